"""Factor library: small modules that turn the localization thesis into explained, point-in-time numbers.

Import ``factors.engine`` for ``compute_scores``/``scores_for`` and ``factors.registry`` for ``FACTORS``. This package
root imports nothing heavy, so the CLI can import it cheaply.
"""
