"""Rare-earth localization screener: store, factors, rules and watchlists for the magnet supply chain."""

__version__ = "0.1.0"
