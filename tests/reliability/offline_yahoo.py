"""``python -m tests.reliability.offline_yahoo --db DB refresh ...``: the real ``screener`` command line in a process
of its own, with Yahoo answered offline (the real yfinance against ``FakeYahoo`` at its HTTP boundary, as the
in-process refresh tests do) and the run's clock at the fake market's fixed day, so a refresh can be interrupted
or killed like any other command."""

from __future__ import annotations

import sys


def main() -> None:
    import screener.intake.refresh as refresh_module
    from screener.cli.app import main as screener_main
    from screener.providers.yahoo import RetryPolicy, YahooProvider
    from tests._yahoo_helpers import ANCHOR_NOW, FakeYahoo, Listing, reset_yfinance

    reset_yfinance()
    fake = FakeYahoo([Listing("MP"), Listing("LYC.AX", quote_currency="AUD", financial_currency="AUD")])
    refresh_module.utcnow = lambda: ANCHOR_NOW  # type: ignore[assignment]
    refresh_module.default_provider = lambda: YahooProvider(  # type: ignore[assignment]
        fake, retry=RetryPolicy(retries=1, base_delay=0.0), sleep=lambda _s: None, seed=3
    )
    sys.argv = ["screener", *sys.argv[1:]]
    screener_main()


if __name__ == "__main__":
    main()
