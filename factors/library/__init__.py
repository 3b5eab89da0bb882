"""The factors: one module per factor, and nothing else.

Discovery (``factors.registry``) imports every module of this package, so a helper placed here would be imported
as a factor. Helpers live one level up, in ``factors``.
"""
