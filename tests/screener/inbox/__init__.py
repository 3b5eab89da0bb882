"""Tests of the catalyst inbox: headlines in, candidates listed, events stored only on accept."""
