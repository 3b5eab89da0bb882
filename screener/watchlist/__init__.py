"""The watchlist stage: weekly runs and their attributed changes, ad hoc screens, and the company card.

Everything here reads scores and stored data and answers an analyst's question; nothing here fetches or validates.
"""
