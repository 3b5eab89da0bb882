"""Tests of curation: suggestions a user reviews before anything is stored."""
