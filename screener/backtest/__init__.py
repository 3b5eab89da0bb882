"""The backtest stage: how well would a factor have ranked the companies, had we trusted it on past dates?

A screen is only worth running if its scores told us something about what came next. This stage holds the
statistics that answer that from stored prices and scores, without looking ahead: forward returns from each
rebalance date, rank information coefficients and their overlap-corrected t-statistics, quantile returns,
turnover and rank stability, and the equity-curve metrics of a portfolio that pays its trading costs
(``screener.backtest.stats``). Every function is a pure, deterministic polars transformation; nothing here reads
the store, the clock or the network.
"""
