"""The cached suggestion model of ``universe suggest`` and the record of accepted suggestions.

Why in the store: training takes a moment and must give the same model for the same labelled texts, so the learnt
parameters are kept keyed by a hash of what they learnt from; a tag change changes the hash and the next
``suggest`` retrains. Only the newest model is kept: an accepted tag names its model version, which stays readable
in the tag history after the model itself is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from screener.store.connection import StoreBase, utcnow


@dataclass(frozen=True)
class StoredModel:
    """One cached model: what it learnt from (``training_hash``), its short name, its figures and its parameters."""

    training_hash: str
    model_version: str
    trained_at: datetime
    examples: int
    metrics: str
    payload: bytes


class Suggestions(StoreBase):
    """Reads and writes of the suggestion model cache and of accepted suggestions in the tag history."""

    def suggestion_model(self, training_hash: str) -> StoredModel | None:
        """The cached model learnt from exactly ``training_hash``, or None (the caller retrains)."""
        rows = self.rows(
            "SELECT training_hash, model_version, trained_at, examples, metrics, payload FROM suggestion_models "
            "WHERE training_hash = ?",
            [training_hash],
        )
        if not rows:
            return None
        h, version, trained_at, examples, metrics, payload = rows[0]
        return StoredModel(h, version, trained_at, int(examples), metrics, bytes(payload))

    def suggestion_models(self) -> pl.DataFrame:
        """Every cached model without its parameters (one row today): tests and diagnostics read it."""
        return self.query(
            "SELECT training_hash, model_version, trained_at, examples FROM suggestion_models ORDER BY trained_at"
        )

    def save_suggestion_model(self, model: StoredModel) -> None:
        """Keep ``model`` as the one cached model. A derived result: it does not bump the data version."""
        with self.transaction(inputs=False):
            self.con.execute("DELETE FROM suggestion_models")
            self.con.execute(
                "INSERT INTO suggestion_models (training_hash, model_version, trained_at, examples, metrics, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    model.training_hash,
                    model.model_version,
                    model.trained_at or utcnow(),
                    model.examples,
                    model.metrics,
                    model.payload,
                ],
            )

    def mark_accepted_suggestion(self, symbol: str, role: str, probability: float, model_version: str) -> None:
        """Write the probability and model version on the newest ``add`` of (symbol, role) in the tag history.

        Called in the same transaction as the tag change that adds the role, so the history row and its
        provenance land together."""
        self.con.execute(
            "UPDATE role_tag_history SET probability = ?, model_version = ? WHERE id = ("
            "SELECT max(id) FROM role_tag_history WHERE symbol = ? AND role = ? AND action = 'add')",
            [probability, model_version, symbol, role],
        )

    def accepted_suggestions(self, symbol: str | None = None) -> pl.DataFrame:
        """Tag-history rows that came from an accepted suggestion, with their probability and model version."""
        sql = (
            "SELECT id, symbol, role, action, actor, source, changed_at, effective_on, probability, model_version "
            "FROM role_tag_history WHERE model_version IS NOT NULL"
        )
        if symbol:
            return self.query(sql + " AND symbol = ? ORDER BY id", [symbol])
        return self.query(sql + " ORDER BY id")
