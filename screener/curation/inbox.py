"""The catalyst inbox: stored headlines turned into candidate events, which a user accepts one at a time.

What each candidate carries, and why:
- a matched company: the symbol the provider filed the headline under, else the one company of the universe whose
  name (or the name without its corporate suffix) the headline mentions, longest name first, ties by symbol;
  no match is shown as unmatched, never guessed;
- a suggested event ``kind`` and capacity ``stage`` with their probabilities, a polarity (``negative`` is a
  ``setback``, the contract's negative kind) with its probability, and the words that drove the suggestion;
- the headline's publication time: an accepted event is dated by it, never by the day it was accepted, so a
  back-dated score sees the event exactly when the market could have.

The model is three scikit-learn pipelines of the same shape (TF-IDF on words and on character n-grams, then a
logistic regression), one each for kind, stage and polarity, trained on the bundled events' descriptions and a
bundled set of labelled headlines (``data/headline_labels.csv``). The vocabularies are the contract's
(``EVENT_KINDS``, ``CAPACITY_STAGES``). Training is deterministic (fixed seed, a deterministic solver, inputs in a
fixed order) and takes well under a second, so the model is trained when the inbox is read and never stored.

Nothing here writes an event except ``accept``, and it writes through the events intake (the same validation as
every imported event), in the same transaction as the decision that records it; accepting twice is an error.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from screener.contract import CAPACITY_STAGES, EVENT_KINDS, KINDS
from screener.errors import ArgumentError, Option, ScreenerError
from screener.paths import bundled_data_dir

if TYPE_CHECKING:
    from screener.store import Store

#: The contract's negative event kind: a negative headline is suggested as one.
NEGATIVE_KIND = "setback"
POLARITIES: tuple[str, str] = ("positive", "negative")
#: The stage class meaning "no capacity stage stated" (most events have none).
NO_STAGE = "none"
#: The seed of every random choice the model makes (the solver is deterministic; the seed pins any tie-break).
SEED = 0
#: Words shown as the text that drove a suggestion.
EVIDENCE_TERMS = 4
LABELS_FILE = "headline_labels.csv"
#: Where accepted events come from: the user's own decision ranks with their imports.
ACCEPT_PROVIDER = "file"
#: Corporate suffixes dropped from a company's name to give the alias a headline uses ("Lynas Rare Earths Ltd").
_SUFFIXES = re.compile(
    r"[\s,]+(?:inc|incorporated|corp|corporation|co|company|ltd|limited|plc|ag|se|sa|nv|asa|ab|oyj|llc|"
    r"holdings?|group|k\.?k|co\.,? ltd)\.?$",
    re.IGNORECASE,
)
#: Candidate columns, in the order the inbox lists them.
CANDIDATE_COLUMNS: tuple[str, ...] = (
    "id",
    "published",
    "symbol",
    "matched_by",
    "headline",
    "kind",
    "kind_probability",
    "stage",
    "stage_probability",
    "polarity",
    "polarity_probability",
    "evidence",
    "publisher",
    "link",
    "status",
)


# -- training data -------------------------------------------------------------------------------------------------
def training_frame(data_dir: Path | None = None) -> pl.DataFrame:
    """Text, kind, stage and polarity to learn from: every bundled event's description (negative when its kind is
    ``setback``) and every labelled headline, in file order; with ``group``, the company a row is about (an
    event's symbol; a labelled headline, which names no company, is a group of its own), which cross-validation
    keeps within one fold."""
    folder = data_dir or bundled_data_dir()
    events = pl.read_csv(folder / "events.csv", infer_schema=False).select(
        pl.col("description").alias("text"),
        pl.col("kind"),
        pl.col("stage").fill_null(NO_STAGE),
        pl.when(pl.col("kind") == NEGATIVE_KIND)
        .then(pl.lit("negative"))
        .otherwise(pl.lit("positive"))
        .alias("polarity"),
        pl.col("symbol").alias("group"),
    )
    labels = pl.read_csv(folder / LABELS_FILE, infer_schema=False).select(
        pl.col("headline").alias("text"),
        "kind",
        pl.col("stage").fill_null(NO_STAGE),
        "polarity",
        pl.format("label:{}", pl.int_range(pl.len())).alias("group"),
    )
    frame = pl.concat([events, labels])
    bad = frame.filter(
        ~pl.col("kind").is_in(EVENT_KINDS)
        | ~pl.col("stage").is_in([NO_STAGE, *CAPACITY_STAGES])
        | ~pl.col("polarity").is_in(POLARITIES)
        | ((pl.col("polarity") == "negative") != (pl.col("kind") == NEGATIVE_KIND))
    )
    if bad.height:
        raise ScreenerError(f"the bundled training data has an invalid label: {bad.row(0, named=True)}")
    return frame


#: Fitted bundled models by ``model_version`` (see ``CatalystModel.bundled``).
_FITTED: dict[str, CatalystModel] = {}


def model_version(frame: pl.DataFrame) -> str:
    """A hash of the training rows and the model's settings: kept with every accepted candidate, so a decision
    says which model suggested it."""
    digest = hashlib.sha1()
    for row in frame.select("text", "kind", "stage", "polarity").iter_rows():
        digest.update("\x1f".join(row).encode("utf-8") + b"\x1e")
    digest.update(f"tfidf-word12-char25-logreg-newtoncg-C10-seed{SEED}".encode())
    return digest.hexdigest()[:12]


# -- the model -----------------------------------------------------------------------------------------------------
def _features() -> Any:
    """TF-IDF on words and word pairs joined with TF-IDF on character 2- to 5-grams (words first)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    analyzer="word", ngram_range=(1, 2), sublinear_tf=True, lowercase=True, stop_words="english"
                ),
            ),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True)),
        ]
    )


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=10.0, class_weight="balanced", solver="newton-cg", max_iter=1000, random_state=SEED)


def _pipeline(features: Any = None, classifier: Any = None) -> Any:
    """The features, then the classifier (new ones unless fitted ones are given)."""
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("features", _features() if features is None else features),
            ("classifier", _classifier() if classifier is None else classifier),
        ]
    )


@dataclass
class Suggestion:
    """One headline's suggestion."""

    kind: str
    kind_probability: float
    stage: str | None
    stage_probability: float
    polarity: str
    polarity_probability: float
    evidence: str


class CatalystModel:
    """The three fitted pipelines (kind, stage, polarity) and the version of what they learned from.

    The three share one fitted feature step: TF-IDF depends on the texts alone, not on the labels, so three fits
    on the same texts would learn the same vocabulary and weights three times, and every headline read would be
    cut into n-grams three times (most of the inbox's time)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        from threadpoolctl import threadpool_limits

        texts = frame["text"].to_list()
        self.version = model_version(frame)
        # One BLAS thread: a fit this small is ten times slower when its threads fight a busy machine for cores,
        # and one thread also sums in one order, run after run.
        with threadpool_limits(limits=1):
            self.features = _features()
            matrix = self.features.fit_transform(texts)
            self.kind, self.stage, self.polarity = (
                _pipeline(self.features, _classifier().fit(matrix, frame[target].to_list()))
                for target in ("kind", "stage", "polarity")
            )

    @classmethod
    def bundled(cls) -> CatalystModel:
        """The model of the bundled training data, fitted once per process and per version of that data (its
        ``model_version``): a fitted model is never changed afterwards, so every inbox listing and accept in one
        process (a notebook, the test suite) shares it instead of fitting the same model again."""
        frame = training_frame()
        version = model_version(frame)
        model = _FITTED.get(version)
        if model is None:
            model = _FITTED[version] = cls(frame)
        return model

    def suggest(self, texts: Sequence[str]) -> list[Suggestion]:
        """Kind, stage and polarity for each text.

        The polarity model decides the sign: a negative headline is a ``setback`` whatever else it is about; a
        positive one takes the most probable of the other kinds. Each probability is the model's own for the label
        shown (for the kind, the kind model's probability of that kind)."""
        if not texts:
            return []
        from threadpoolctl import threadpool_limits

        texts = list(texts)
        kinds = [str(k) for k in self.kind.classes_]
        with threadpool_limits(limits=1):
            matrix = self.features.transform(texts)
            p_kind = self.kind.named_steps["classifier"].predict_proba(matrix)
            p_stage = self.stage.named_steps["classifier"].predict_proba(matrix)
            p_pol = self.polarity.named_steps["classifier"].predict_proba(matrix)
        stages = [str(k) for k in self.stage.classes_]
        negative = [str(k) for k in self.polarity.classes_].index("negative")
        out = []
        for i in range(len(texts)):
            p_neg = float(p_pol[i][negative])
            if p_neg >= 0.5:
                kind = NEGATIVE_KIND
                polarity, p_polarity = "negative", p_neg
            else:
                order = sorted((k for k in kinds if k != NEGATIVE_KIND), key=lambda k: (-p_kind[i][kinds.index(k)], k))
                kind = order[0]
                polarity, p_polarity = "positive", 1.0 - p_neg
            top_stage = min(range(len(stages)), key=lambda j: (-p_stage[i][j], stages[j]))
            stage = stages[top_stage]
            out.append(
                Suggestion(
                    kind=kind,
                    kind_probability=float(p_kind[i][kinds.index(kind)]),
                    stage=None if stage == NO_STAGE else stage,
                    stage_probability=float(p_stage[i][top_stage]),
                    polarity=polarity,
                    polarity_probability=p_polarity,
                    evidence="",
                )
            )
        evidence = self.evidence_batch(texts, [item.kind for item in out], matrix=matrix)
        for item, terms in zip(out, evidence, strict=True):
            item.evidence = ", ".join(terms)
        return out

    def evidence(self, text: str, kind: str) -> list[str]:
        """The words (and word pairs) of ``text`` that pushed the kind model most towards ``kind``
        (``evidence_batch`` of one text)."""
        return self.evidence_batch([text], [kind])[0]

    def evidence_batch(self, texts: Sequence[str], kinds: Sequence[str], matrix: Any = None) -> list[list[str]]:
        """For each text, the words (and word pairs) that pushed the kind model most towards its kind: each term's
        TF-IDF weight times its coefficient for the class, largest first, ties by the term; only terms that push
        towards it.

        Why one batch: the texts are transformed together into one sparse matrix and the vocabulary is read once;
        transforming them one at a time cost the inbox minutes on a large store. ``matrix``, the texts' features
        already computed, saves even that: its first columns are the word TF-IDF."""
        if not texts:
            return []
        import numpy as np

        words = self.features.transformer_list[0][1]
        classifier = self.kind.named_steps["classifier"]
        if matrix is None:
            matrix = words.transform(list(texts))
        matrix = matrix.tocsr()[:, : len(words.vocabulary_)]
        classes = [str(k) for k in classifier.classes_]
        coef = np.asarray(classifier.coef_)
        # one row of coefficients per class (two classes: one row, for the second class)
        per_class = np.vstack([-coef[0], coef[0]]) if coef.shape[0] == 1 else coef
        names = words.get_feature_names_out()
        out = []
        for i, kind in enumerate(kinds):
            start, end = matrix.indptr[i], matrix.indptr[i + 1]
            cols = matrix.indices[start:end]
            scores = matrix.data[start:end] * per_class[classes.index(kind)][cols]
            scored = [(float(v), str(names[j])) for v, j in zip(scores, cols, strict=True) if v > 0]
            scored.sort(key=lambda t: (-t[0], t[1]))
            out.append([name for _, name in scored[:EVIDENCE_TERMS]])
        return out


def cross_validated(frame: pl.DataFrame | None = None, folds: int = 5) -> pl.DataFrame:
    """Honest figures for the three models: precision, recall and F1 per label and macro, from stratified,
    grouped ``folds``-fold cross-validation (shuffled with ``SEED``) over the training rows; a label with fewer rows
    than ``folds`` lowers the folds of its model. Rows: ``model`` (kind, stage, polarity), ``label``,
    ``precision``, ``recall``, ``f1``, ``support``; deterministic, like the fit.

    Why grouped: events of one company share its names (a project, a town, a product) and those names become
    evidence; with the company's events split across folds, the model would be scored on names it learnt from the
    same company, not on what generalises. Each ``group`` (a company) is kept within one fold; a frame without
    ``group`` makes each row its own."""
    from sklearn.metrics import precision_recall_fscore_support
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    frame = frame if frame is not None else training_frame()
    texts = frame["text"].to_list()
    groups = frame["group"].to_list() if "group" in frame.columns else list(range(frame.height))
    rows = []
    with threadpool_limits(limits=1):
        for target in ("kind", "stage", "polarity"):
            labels = frame[target].to_list()
            k = max(2, min(folds, *(labels.count(v) for v in set(labels))))
            split = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=SEED)
            predicted = cross_val_predict(_pipeline(), texts, labels, groups=groups, cv=split)
            names = sorted(set(labels))
            p, r, f, n = precision_recall_fscore_support(labels, predicted, labels=names, zero_division=0)
            for i, name in enumerate(names):
                rows.append((target, name, float(p[i]), float(r[i]), float(f[i]), int(n[i])))
            rows.append((target, "macro", float(p.mean()), float(r.mean()), float(f.mean()), len(labels)))
    return pl.DataFrame(rows, schema=["model", "label", "precision", "recall", "f1", "support"], orient="row")


# -- matching a company --------------------------------------------------------------------------------------------
#: First words too common to name one company on their own ("American Rare Earths", "Rare Element").
_GENERIC_FIRST = frozenset(
    [
        "american",
        "australian",
        "canadian",
        "china",
        "chinese",
        "energy",
        "general",
        "global",
        "international",
        "japan",
        "korea",
        "national",
        "new",
        "north",
        "northern",
        "rare",
        "south",
        "southern",
        "united",
        "western",
        "world",
    ]
)


def aliases(name: str, first_words: dict[str, int] | None = None) -> list[str]:
    """The names a headline may use for a company: its name, its name without the corporate suffix, and its first
    word when that word is distinctive (four letters or more, not generic, the first word of no other company in
    ``first_words``, a count per lower-case first word) - headlines say "Lynas", not "Lynas Rare Earths Ltd"."""
    out = [name.strip()]
    short = name.strip()
    while True:
        trimmed = _SUFFIXES.sub("", short).strip()
        if trimmed == short or not trimmed:
            break
        short = trimmed
    if short != out[0] and len(short) >= 3:
        out.append(short)
    first = short.split()[0].strip(",.") if short.split() else ""
    if (
        first_words is not None
        and first not in out
        and len(first) >= 4
        and first.lower() not in _GENERIC_FIRST
        and first_words.get(first.lower(), 0) == 1
    ):
        out.append(first)
    return out


_WORD = re.compile(r"\w+")


class CompanyMatcher:
    """Every company's names, prepared once for many headlines.

    Why prepared: a headline names a company by a whole word or words, so a name can match only a headline that
    holds the name's first word as a whole word. The names are indexed by that word; a headline is split into its
    words once and only the names indexed by one of them are tried, instead of every name of the universe on every
    headline. The answer is the same as trying every name: the longest matching name wins, ties by symbol."""

    def __init__(self, universe: pl.DataFrame) -> None:
        names = [(s, n) for s, n in universe.select("symbol", "name").iter_rows() if n and n.split()]
        first_words: dict[str, int] = {}
        for _, name in names:
            word = name.split()[0].strip(",.").lower()
            first_words[word] = first_words.get(word, 0) + 1
        #: lower-case first word of a name -> (pattern, length of the name, symbol)
        self._by_word: dict[str, list[tuple[re.Pattern[str], int, str]]] = {}
        self._always: list[tuple[re.Pattern[str], int, str]] = []  # a name with no word character at all
        for symbol, name in names:
            for alias in aliases(name, first_words):
                entry = (re.compile(rf"(?<!\w){re.escape(alias)}(?!\w)", re.IGNORECASE), len(alias), symbol)
                first = _WORD.search(alias)
                if first is None:
                    self._always.append(entry)
                else:
                    self._by_word.setdefault(first.group(0).lower(), []).append(entry)

    def match(self, headline: str) -> str | None:
        """The symbol of the company ``headline`` names, or None."""
        best: tuple[int, str] | None = None
        tried = list(self._always)
        for word in {w.lower() for w in _WORD.findall(headline)}:
            tried.extend(self._by_word.get(word, ()))
        for pattern, length, symbol in tried:
            key = (-length, symbol)
            if (best is None or key < best) and pattern.search(headline):
                best = key
        return best[1] if best else None


def match_company(headline: str, universe: pl.DataFrame) -> str | None:
    """The symbol of the company ``headline`` names, by whole-word, case-insensitive match of a name or alias;
    the longest matching alias wins, ties by symbol. None when nothing matches. (For many headlines, build one
    ``CompanyMatcher``.)"""
    return CompanyMatcher(universe).match(headline)


# -- the inbox -----------------------------------------------------------------------------------------------------
def candidates(
    store: Store,
    *,
    since: date | None = None,
    model: CatalystModel | None = None,
    include_accepted: bool = True,
    limit: int | None = None,
) -> pl.DataFrame:
    """Every stored headline published on or after ``since`` as a candidate event (``CANDIDATE_COLUMNS``), newest
    first, ties by id; with ``limit``, only the newest ``limit`` of them (the model reads only those). Reads only:
    the inbox never writes an event."""
    heads = store.stored_headlines(since, only_new=not include_accepted, limit=limit)
    schema = {
        "id": pl.String,
        "published": pl.Datetime("us"),
        "symbol": pl.String,
        "matched_by": pl.String,
        "headline": pl.String,
        "kind": pl.String,
        "kind_probability": pl.Float64,
        "stage": pl.String,
        "stage_probability": pl.Float64,
        "polarity": pl.String,
        "polarity_probability": pl.Float64,
        "evidence": pl.String,
        "publisher": pl.String,
        "link": pl.String,
        "status": pl.String,
    }
    if heads.height == 0:
        return pl.DataFrame(schema=schema)
    model = model or CatalystModel.bundled()
    universe = store.universe_names()
    known = set(universe["symbol"].to_list())
    matcher = CompanyMatcher(universe)
    rows = []
    suggestions = model.suggest(heads["headline"].to_list())
    for head, s in zip(heads.iter_rows(named=True), suggestions, strict=True):
        symbol, matched_by = head["symbol"], "symbol"
        if symbol is None:
            symbol = matcher.match(head["headline"])
            matched_by = "name" if symbol else "unmatched"
        elif symbol not in known:
            matched_by = "symbol (not in the universe)"
        rows.append(
            {
                "id": head["id"],
                "published": head["published_at"],
                "symbol": symbol,
                "matched_by": matched_by,
                "headline": head["headline"],
                "kind": s.kind,
                "kind_probability": s.kind_probability,
                "stage": s.stage,
                "stage_probability": s.stage_probability,
                "polarity": s.polarity,
                "polarity_probability": s.polarity_probability,
                "evidence": s.evidence,
                "publisher": head["publisher"],
                "link": head["link"],
                "status": "accepted" if head["accepted"] else "new",
            }
        )
    return pl.DataFrame(rows, schema=schema)


# -- accepting -----------------------------------------------------------------------------------------------------
#: Event fields ``--edit`` may set: every events column except the date, which is the headline's publication date.
EDITABLE: tuple[str, ...] = tuple(c for c in KINDS["events"].names if c not in ("date", "date_precision"))


def parse_edits(edits: Sequence[str]) -> dict[str, str]:
    """``field=value`` pairs as a dict; a pair without ``=``, naming a field that is not editable, or naming a
    field a second time is a one-line error (the first two list the editable fields). Why refuse a repeat: one of
    the two values would be dropped without a word, and the user cannot tell which."""
    out: dict[str, str] = {}
    for item in edits:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ArgumentError(Option("edits"), f" {item!r}: write it as field=value (fields: {', '.join(EDITABLE)})")
        if name not in EDITABLE:
            why = " (an event is dated by its headline's publication)" if name in ("date", "date_precision") else ""
            raise ArgumentError(
                Option("edits"), f" {name}: not an editable field{why}; use one of {', '.join(EDITABLE)}"
            )
        if name in out:
            raise ArgumentError(
                Option("edits"), f" {name}: given twice ({out[name]!r} and {value.strip()!r}); give each field once"
            )
        out[name] = value.strip()
    return out


def event_date(published_at: datetime) -> date:
    """The date of the event a headline becomes: the UTC day after its publication.

    Why the day after, always: a score as of a day reads that day's closes, and a backtest buys at them. A headline
    published on UTC day D may come after that day's close (a US close is 20:00-21:00 UTC, the ASX's and Tokyo's
    about 06:00 UTC), so dating it D would let the close of D, before the news, trade on it. Every covered exchange
    closes its trading day D+1 at or after 00:00 UTC of D+1, so from D+1 the news is always older than the close
    that reads it. The cost is a day's delay for a headline published before a close; never a look-ahead."""
    return published_at.date() + timedelta(days=1)


def _known_symbol(headline: str, symbol: str, known: Sequence[str]) -> None:
    """Refuse an event for a company not in the universe, naming the nearest symbol."""
    from screener.intake.universe import suggest_symbol

    if symbol in known:
        return
    hint = suggest_symbol(symbol, known)
    raise ArgumentError(
        f"headline {headline}: {symbol!r} is not in the universe"
        + (f" (did you mean {hint!r}?)" if hint else "")
        + "; pass ",
        Option("edits"),
        " symbol=SYMBOL of a company in 'screener universe list'; nothing was stored",
    )


@dataclass(frozen=True)
class Accepted:
    """What ``accept`` stored: the event's row and the decision's model version."""

    event: dict[str, Any]
    model_version: str


def accept(
    store: Store,
    headline_id: str,
    *,
    edits: Sequence[str] = (),
    source: str | None = None,
    model: CatalystModel | None = None,
    today: date | None = None,
) -> Accepted:
    """Store the candidate ``headline_id`` as one event, through the events intake (validation refuses a bad
    value and stores nothing), and record the decision in the same transaction.

    The event: the matched company, the suggested kind and stage, the headline as its description, dated by
    ``event_date`` (the UTC day after publication, day precision), with ``source`` (default: the publisher and the
    link). ``edits`` (``field=value``) override any of these but the date. Raises ``ScreenerError`` for an unknown
    id, a headline already accepted, an unmatched company without ``--edit symbol=...``, a symbol that is not in the
    universe (a typo would otherwise be stored for good, since accepting twice is refused), an event already stored
    under the same key (symbol, date, kind, description: a second copy of a syndicated headline, or an event
    imported earlier, would otherwise be replaced without a word), or a value the events contract refuses.
    ``today`` (the caller's UTC day) bounds the event's date: a headline of today makes an event dated tomorrow."""
    from screener.intake import Refused, intake
    from screener.providers.files import ContractError, parse_frame

    wanted = headline_id.strip()
    changes = parse_edits(edits)
    head = store.headline(wanted)
    if head is None:
        raise ScreenerError(f"no headline {wanted!r} in the inbox; see 'screener events inbox'")
    decided = store.headline_decision(wanted)
    if decided is not None:
        raise ScreenerError(
            f"headline {wanted} was already accepted on {decided['decided_at']:%Y-%m-%d} as a {decided['kind']} "
            f"event of {decided['symbol']} dated {decided['date']}; nothing was stored"
        )
    model = model or CatalystModel.bundled()
    suggestion = model.suggest([head["headline"]])[0]
    universe = store.universe_names()
    symbol = head["symbol"] or match_company(head["headline"], universe)
    cited = " ".join(x for x in (head["publisher"], head["link"]) if x) or None
    values: dict[str, str | None] = dict.fromkeys(KINDS["events"].names)
    values.update(
        symbol=symbol,
        date=event_date(head["published_at"]).isoformat(),
        kind=suggestion.kind,
        stage=suggestion.stage,
        description=head["headline"],
        source=source if source is not None else cited,
        date_precision="day",
    )
    values.update(changes)
    if not values["symbol"]:
        raise ArgumentError(f"headline {wanted} matched no company; pass ", Option("edits"), " symbol=SYMBOL")
    label = Path(f"headline {wanted}")
    raw = pl.DataFrame(
        {k: [v if v != "" else None] for k, v in values.items()}, schema=dict.fromkeys(values, pl.String)
    )
    try:
        parsed = parse_frame(raw, "events", label)
    except ContractError as exc:
        raise ScreenerError(str(exc).replace(", row 2", "")) from None
    event = parsed.frame.row(0, named=True)
    _known_symbol(wanted, event["symbol"], universe["symbol"].to_list())
    with store.transaction():
        stored = store.event_with_key(event["symbol"], event["date"], event["kind"], event["description"])
        if stored is not None:
            raise ArgumentError(
                f"headline {wanted}: a {stored['kind']} event of {stored['symbol']} dated {stored['date']:%Y-%m-%d} "
                f"with this description is already stored (provider {stored['provider']}); nothing was stored "
                "(to keep both, pass ",
                Option("edits"),
                " description=...)",
            )
        try:
            result = intake(
                store, "events", parsed.frame, ACCEPT_PROVIDER, source=f"inbox:{wanted}", today=today, policy="refuse"
            )
        except Refused as exc:
            raise ScreenerError(f"{exc.failures[0].replace(', row 2', '')}; nothing was stored") from None
        if result.stored != 1:
            raise ScreenerError(
                f"headline {wanted}: an event with the same symbol, date, kind and description is already stored "
                "by a source that ranks above your own; nothing was stored"
            )
        store.record_decision(
            wanted,
            event,
            probability=suggestion.kind_probability if event["kind"] == suggestion.kind else None,
            model_version=model.version,
            edited="; ".join(f"{k}={v}" for k, v in changes.items()) or None,
        )
    return Accepted(event, model.version)
