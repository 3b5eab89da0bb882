"""Factor library: small modules that turn the localization thesis into explained, point-in-time numbers.

The factors themselves are the modules of ``factors.library`` (one per factor, nothing else); this package holds
what they share: the point-in-time inputs, the engine, the registry and the cross-sectional maths.

Import ``factors.engine`` for ``compute_scores``/``scores_for`` and ``factors.registry`` for ``FACTORS``. This package
root imports nothing heavy, so the CLI can import it cheaply.
"""
