"""Data providers: each returns polars frames in the data contract's shapes and never writes to the store.

``yahoo`` is the live provider (yfinance). Providers import their heavy libraries inside functions so that
importing this package stays cheap for the CLI.
"""

from screener.providers.yahoo import (
    NotFound,
    ProviderError,
    RateLimited,
    RetryPolicy,
    Unavailable,
    Unreachable,
    YahooProvider,
)

__all__ = ["NotFound", "ProviderError", "RateLimited", "RetryPolicy", "Unavailable", "Unreachable", "YahooProvider"]
