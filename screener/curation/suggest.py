"""``universe suggest``: role tags and an exposure band suggested from each company's business description.

The source text of a stored company is its Yahoo profile's business summary (stored by ``refresh``) followed by the
``description`` column of the universe. The model learns from the bundled labelled corpus plus every tagged company
of the store (its text and current tags), so the user's own tagging teaches it. A model is cached in the store under
a hash of exactly that training data: a tag change, a new description or a new corpus changes the hash, and the next
call retrains (one fit on everything, and one per cross-validation fold).

A company the model learnt from is read by the fold model that never saw it (its out-of-fold probabilities), never
by the full model: a model must not grade its own homework, or it repeats a company's tags back, wrong ones
included. A company it did not learn from (untagged, not in the corpus) is read by the full model.

Nothing here changes a tag except ``accept``, which records each accepted role with its probability and the model
version in the tag history.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from screener.contract import ROLES, exposure_band
from screener.curation import model as m
from screener.curation.corpus import CORPUS_FILE, check_corpus, read_corpus
from screener.curation.keywords import keyword_matrix
from screener.errors import NO_COMPANIES, ArgumentError, Option, ScreenerError
from screener.store import Store, utcnow
from screener.store.suggestions import StoredModel

#: The columns of a suggestion row, in order.
SUGGESTION_COLUMNS: tuple[str, ...] = (
    "symbol",
    "name",
    "role",
    "probability",
    "tagged",
    "confidence",
    "evidence",
    "exposure_band",
    "band_probability",
    "band_evidence",
    "model_version",
)
SUGGESTION_SCHEMA: dict[str, type[pl.DataType]] = {
    "symbol": pl.String,
    "name": pl.String,
    "role": pl.String,
    "probability": pl.Float64,
    "tagged": pl.Boolean,
    "confidence": pl.String,
    "evidence": pl.String,
    "exposure_band": pl.String,
    "band_probability": pl.Float64,
    "band_evidence": pl.String,
    "model_version": pl.String,
}
#: The columns of an evaluation row, in order.
EVALUATION_SCHEMA: dict[str, type[pl.DataType]] = {
    "model": pl.String,
    "role": pl.String,
    "precision": pl.Float64,
    "recall": pl.Float64,
    "f1": pl.Float64,
    "support": pl.Int64,
}
LOW_CONFIDENCE = "low confidence"
NORMAL_CONFIDENCE = "normal"


@dataclass(frozen=True)
class TrainedModel:
    """A usable model: its parameters, version, per-role cross-validated figures and how it was obtained."""

    models: m.ModelSet
    version: str
    training_hash: str
    examples: int
    metrics: list[dict[str, object]]
    #: The band's cross-validated accuracy, the most-common-band baseline and the texts scored (``model.train``).
    band: tuple[float, float, int] | None
    #: True when it was learnt by this call, False when read from the store's cache.
    trained: bool
    seconds: float

    @property
    def learned(self) -> m.LearnedModel:
        """The model learnt from every example (for a text it did not learn from)."""
        return self.models.full

    def f1_of(self, role: str) -> float | None:
        return next((r["f1"] for r in self.metrics if r["role"] == role), None)  # type: ignore[return-value]

    def low_confidence(self, role: str) -> bool:
        """Whether ``role``'s cross-validated F1 is below ``LOW_CONFIDENCE_F1`` (an unknown F1 counts as low)."""
        f1 = self.f1_of(role)
        return f1 is None or f1 < m.LOW_CONFIDENCE_F1


@dataclass(frozen=True)
class Suggestions:
    """Suggestion rows, the companies that have no text to read, and the model that made them."""

    frame: pl.DataFrame
    without_text: list[str]
    model: TrainedModel


def company_texts(store: Store) -> pl.DataFrame:
    """Every stored company with its source text: symbol, name, roles, exposure, text (null when it has none).

    The text is the profile's business summary, then the user's description, joined by a blank line."""
    companies = store.companies().select("symbol", "name", "roles", "exposure", "description")
    summaries = store.profiles().select("symbol", "summary")
    joined = companies.join(summaries, on="symbol", how="left")
    text = pl.concat_str(
        [pl.col("summary").str.strip_chars(), pl.col("description").str.strip_chars()],
        separator="\n\n",
        ignore_nulls=True,
    )
    return joined.with_columns(pl.when(text.str.len_chars() > 0).then(text).alias("text")).select(
        "symbol", "name", "roles", "exposure", "text"
    )


def _store_examples(texts: pl.DataFrame) -> list[m.Example]:
    rows = texts.filter(pl.col("text").is_not_null() & (pl.col("roles") != "")).sort("symbol")
    return [
        m.Example(r["symbol"], r["text"], tuple(r["roles"].split(";")), exposure_band(r["exposure"]))
        for r in rows.iter_rows(named=True)
    ]


def _corpus_examples(frame: pl.DataFrame) -> list[m.Example]:
    # read before validation (the hash needs them): an empty cell must not break here, the suite names it
    return [
        m.Example(r["symbol"] or "", r["description"] or "", tuple((r["roles"] or "").split(";")), r["exposure_band"])
        for r in frame.iter_rows(named=True)
    ]


def training_hash(corpus_bytes: bytes, store_examples: Sequence[m.Example]) -> str:
    """The cache key: the model spec, the corpus file's bytes and every stored labelled text with its labels."""
    digest = hashlib.sha256()
    digest.update(m.MODEL_SPEC.encode())
    digest.update(hashlib.sha256(corpus_bytes).digest())
    stored = [[e.symbol, e.text, list(e.roles), e.band] for e in store_examples]
    digest.update(json.dumps(stored, ensure_ascii=False).encode())
    return digest.hexdigest()


def labelled_examples(store: Store, texts: pl.DataFrame | None = None) -> tuple[list[m.Example], str, pl.DataFrame]:
    """The training data (corpus then store examples), its hash, and the corpus frame (not yet validated)."""
    corpus, raw = read_corpus()
    stored = _store_examples(company_texts(store) if texts is None else texts)
    return [*_corpus_examples(corpus), *stored], training_hash(raw, stored), corpus


def _train(examples: list[m.Example]) -> tuple[m.ModelSet, list[dict[str, object]], tuple[float, float, int] | None]:
    """Fit on every example and per fold, and score the role classifier by cross-validation (its figures travel
    with it, with the band's)."""
    done = m.train(examples)
    metrics = m.scores(m.label_matrix(examples), done.role_probabilities >= m.THRESHOLD)
    return done.models, metrics, done.band


def _read_cached(cached: StoredModel) -> tuple[m.ModelSet, list[dict[str, object]], tuple[float, float, int] | None]:
    """The cached models and figures; ValueError (retrain) when they are not of this version's shape."""
    try:
        models = m.ModelSet.from_bytes(cached.payload)
        figures = json.loads(cached.metrics)
        band = figures["band"]
        return models, figures["roles"], None if band is None else (float(band[0]), float(band[1]), int(band[2]))
    except (KeyError, TypeError, IndexError, OSError) as exc:
        raise ValueError("the cached model is not of this version's shape") from exc


def model_and_examples(store: Store, texts: pl.DataFrame | None = None) -> tuple[TrainedModel, list[m.Example]]:
    """The model for the store's current training data, and that data: from the cache when its hash matches, else
    learnt now (the corpus validated first) and cached. The version is ``m-`` and the hash's first twelve
    characters."""
    examples, key, corpus = labelled_examples(store, texts)
    version = f"m-{key[:12]}"
    start = time.perf_counter()
    cached = store.suggestion_model(key)
    if cached is not None:
        try:
            models, metrics, band = _read_cached(cached)
        except ValueError:
            pass
        else:
            seconds = time.perf_counter() - start
            return TrainedModel(models, version, key, cached.examples, metrics, band, False, seconds), examples
    check_corpus(corpus, CORPUS_FILE)
    start = time.perf_counter()  # "learnt in" is the learning: the corpus validation above is not part of it
    try:
        models, metrics, band = _train(examples)
    except ValueError as exc:
        raise ScreenerError(f"cannot learn a suggestion model: {exc}") from exc
    seconds = time.perf_counter() - start
    # a reader that cannot take the write lock (another process is writing) keeps the model in memory this time
    if store.can_write("the suggestion model's learnt parameters"):
        figures = json.dumps({"roles": metrics, "band": None if band is None else list(band)})
        store.save_suggestion_model(StoredModel(key, version, utcnow(), len(examples), figures, models.to_bytes()))
    return TrainedModel(models, version, key, len(examples), metrics, band, True, seconds), examples


def model_for(store: Store, texts: pl.DataFrame | None = None) -> TrainedModel:
    """The model for the store's current training data (``model_and_examples``)."""
    return model_and_examples(store, texts)[0]


def _check_confidence(min_confidence: float) -> None:
    if not 0.0 <= min_confidence <= 1.0 or min_confidence != min_confidence:
        raise ArgumentError(Option("min_confidence"), f" must be between 0 and 1, not {min_confidence:g}")


def _resolve(texts: pl.DataFrame, symbols: Sequence[str], all_untagged: bool) -> pl.DataFrame:
    from screener.intake.universe import suggest_symbol

    if texts.height == 0:
        raise ScreenerError(NO_COMPANIES)
    if symbols and all_untagged:
        raise ArgumentError(
            Option("all_untagged"), " takes no symbols: name companies or ask for every untagged one, not both"
        )
    known = texts["symbol"].to_list()
    wanted: list[str] = []
    for raw in symbols:
        sym = raw.strip().upper()
        if sym not in known:
            hint = suggest_symbol(sym, known)
            raise ScreenerError(
                f"unknown symbol {sym!r}"
                + (f" (did you mean {hint!r}?)" if hint else "")
                + "; see 'screener universe list'"
            )
        if sym not in wanted:
            wanted.append(sym)
    if wanted:
        return texts.filter(pl.col("symbol").is_in(wanted)).sort("symbol")
    return texts.sort("symbol")


def suggest(
    store: Store,
    symbols: Sequence[str] = (),
    *,
    all_untagged: bool = False,
    min_confidence: float = m.THRESHOLD,
) -> Suggestions:
    """Suggested roles for the given companies (all of them when none is given): one row per company and role whose
    probability reaches ``min_confidence``. With ``all_untagged``, every company and only the roles it does not
    carry yet: the suggestions there is something to accept for (a company without any tag has every role
    untagged).

    Each row carries whether the company already has the role (``tagged``), "low confidence" when the role's
    cross-validated F1 is below 0.5, the evidence words, and the company's suggested exposure band with its
    probability and words. Rows are sorted by symbol, then probability (highest first), then contract role order.
    A company without text gets no rows and is named in ``without_text``: unknown, not "no role". Stores nothing
    but the cached model.
    """
    _check_confidence(min_confidence)
    texts = company_texts(store)
    chosen = _resolve(texts, symbols, all_untagged)
    trained = model_for(store, texts)
    readable = chosen.filter(pl.col("text").is_not_null())
    without = chosen.filter(pl.col("text").is_null())["symbol"].to_list()
    rows: list[dict[str, object]] = []
    # each company is read by the model that did not learn from it (grouped by model, then back in symbol order)
    by_model: dict[int, list[dict[str, object]]] = {}
    for company in readable.iter_rows(named=True):
        f = trained.models.fold_of.get(company["symbol"])
        by_model.setdefault(-1 if f is None else f, []).append(company)
    for f, companies in sorted(by_model.items()):
        learned = trained.models.full if f < 0 else trained.models.folds[f]
        x = learned.features([str(c["text"]) for c in companies])
        roles_p = learned.role_probabilities(x)
        bands_p = learned.band_probabilities(x)
        for i, company in enumerate(companies):
            have = set(str(company["roles"]).split(";")) if company["roles"] else set()
            own = m.name_words(company["name"])  # type: ignore[arg-type]
            b = int(np.argmax(bands_p[i]))
            band_words = ";".join(learned.evidence(x, i, learned.band_coef[b], own))
            ranked = sorted(range(len(ROLES)), key=lambda j, i=i: (-roles_p[i, j], j))
            for j in ranked:
                p = float(roles_p[i, j])
                if p < min_confidence:
                    continue
                role = ROLES[j]
                if all_untagged and role in have:
                    continue
                rows.append(
                    {
                        "symbol": company["symbol"],
                        "name": company["name"],
                        "role": role,
                        "probability": p,
                        "tagged": role in have,
                        "confidence": LOW_CONFIDENCE if trained.low_confidence(role) else NORMAL_CONFIDENCE,
                        "evidence": ";".join(learned.evidence(x, i, learned.role_coef[j], own)),
                        "exposure_band": learned.bands[b],
                        "band_probability": float(bands_p[i, b]),
                        "band_evidence": band_words,
                        "model_version": trained.version,
                    }
                )
    order = {s: n for n, s in enumerate(readable["symbol"].to_list())}
    rows.sort(key=lambda r: order[str(r["symbol"])])  # stable: each company's rows keep their probability order
    frame = pl.DataFrame(rows, schema=SUGGESTION_SCHEMA, orient="row")
    return Suggestions(frame, without, trained)


def evaluate(store: Store) -> tuple[pl.DataFrame, TrainedModel]:
    """Cross-validated precision, recall and F1 per role and macro of the classifier (the figures cached with the
    model), then of the keyword baseline on the same labelled texts (the baseline learns nothing, so it is scored on
    every text at once); and the model, whose ``band`` holds the exposure band's cross-validated figures."""
    trained, examples = model_and_examples(store)
    truth = m.label_matrix(examples)
    keywords = m.scores(truth, np.array(keyword_matrix([e.text for e in examples]), dtype=np.int64))
    rows = [{"model": "classifier", **r} for r in trained.metrics] + [{"model": "keywords", **r} for r in keywords]
    frame = pl.DataFrame(rows, schema=EVALUATION_SCHEMA, orient="row").select(list(EVALUATION_SCHEMA))
    return frame, trained


@dataclass(frozen=True)
class Accepted:
    """What an acceptance stored: the accepted rows (symbol, role, probability, model_version) and the roles now."""

    frame: pl.DataFrame
    roles: list[str]


def accept(
    store: Store,
    symbol: str,
    source: str | None,
    *,
    roles: Sequence[str] = (),
    min_confidence: float = m.THRESHOLD,
    effective: date | None = None,
) -> Accepted:
    """Add the suggested roles ``symbol`` does not carry yet (only ``roles`` when given), each recorded in the tag
    history with ``source``, its probability and the model version, in one transaction.

    A role asked for that is not suggested (below ``min_confidence``) is refused: tagging against the model is what
    ``tag`` is for, and its history must not claim a probability that did not support it."""
    from screener.intake.universe import tag

    if source is None or not source.strip():
        raise ArgumentError(
            Option("source"), " is empty: say why the tags change (a citation or URL); it is kept in the history"
        )
    for role in roles:
        if role not in ROLES:
            raise ScreenerError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    found = suggest(store, [symbol], min_confidence=min_confidence)
    sym = symbol.strip().upper()
    if found.without_text:
        raise ScreenerError(f"{sym} has no description to read: refresh its profile or add a description first")
    offered = found.frame
    if roles:
        missing = [r for r in roles if r not in offered["role"].to_list()]
        if missing:
            raise ScreenerError(
                f"{sym}: role {missing[0]!r} is not suggested at probability {min_confidence:g} or more; "
                "tag it by hand with a source if you mean it"
            )
        offered = offered.filter(pl.col("role").is_in(list(roles)))
    new = offered.filter(~pl.col("tagged"))
    if new.height == 0:
        raise ScreenerError(f"{sym}: nothing to accept; every suggested role is already tagged")
    with store.transaction():
        now, _changed = tag(store, sym, new["role"].to_list(), (), source, effective=effective)
        for r in new.iter_rows(named=True):
            store.mark_accepted_suggestion(sym, r["role"], r["probability"], r["model_version"])
    return Accepted(new.select("symbol", "role", "probability", "model_version"), now)
