"""The backtest stage: how well would a factor have ranked the companies, had we trusted it on past dates?

A screen is only worth running if its scores told us something about what came next. This stage answers that from
stored prices and scores, without looking ahead:

- ``screener.backtest.stats``: forward returns from each rebalance date, rank information coefficients and their
  overlap-corrected t-statistics, quantile returns, turnover and rank stability, and the equity-curve metrics of a
  portfolio that pays its trading costs;
- ``screener.backtest.evaluate``: those statistics for every factor, per horizon and role class;
- ``screener.backtest.simulate``: a rule set's book rebalanced on past dates (membership buffer, weights, costs,
  delisted holdings at their last close), the eligible universe and a benchmark;
- ``screener.backtest.run``: ``run_backtest``, the one entry point, which reads the store (through the factor
  engine's ``score_panel`` and ``usd_closes``) and returns a ``screener.backtest.result.BacktestResult``.

Everything but ``run`` is a pure, deterministic polars transformation; nothing here reads the clock or the network,
prints, or writes the store.
"""
