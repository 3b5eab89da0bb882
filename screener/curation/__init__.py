"""Curation: suggestions a user reviews before anything is stored (the catalyst inbox, role suggestions)."""
