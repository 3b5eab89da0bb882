"""The suggestion model: TF-IDF on words and character n-grams, then one-vs-rest logistic regression per role, and
a multinomial logistic regression for the exposure band.

Why this model: descriptions are short and few (a few hundred), the roles overlap (a miner may also separate), and
the rare roles (tolling, equipment) have a handful of examples. A linear model on TF-IDF learns from that little,
weighs rare roles up (``class_weight='balanced'``), trains in well under a second and explains itself: each
suggestion's evidence is the words whose weights pushed it up. Character n-grams catch word forms the word
features miss (``separat`` in separates, separation, separated).

What is stored is the learnt parameters, not a pickled object: the vocabularies, inverse document frequencies,
coefficients and intercepts, as a numpy archive read back with ``allow_pickle=False``. Prediction rebuilds the two
vectorizers with those vocabularies and weights and applies the coefficients directly, so it gives the same
probabilities as the fitted pipeline. scikit-learn is imported inside the functions that need it.
"""

from __future__ import annotations

import io
import random
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from screener.contract import EXPOSURE_BANDS, ROLES

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

#: Word features: single words and pairs, English stop words dropped, damped term frequency.
WORD_FEATURES: dict[str, Any] = {
    "analyzer": "word",
    "ngram_range": (1, 2),
    "sublinear_tf": True,
    "stop_words": "english",
    "token_pattern": r"(?u)\b[a-zA-Z][a-zA-Z0-9\-]+\b",
}
#: Character n-grams inside word boundaries; a fragment seen in one text only is noise.
CHAR_FEATURES: dict[str, Any] = {"analyzer": "char_wb", "ngram_range": (3, 5), "sublinear_tf": True, "min_df": 2}
#: Inverse regularisation strength of both classifiers: the texts are short, so weights must be allowed to grow.
C = 10.0
#: The one seed of everything random (the solvers' and the folds'), so a model and its figures are reproducible.
SEED = 0
#: Cross-validation folds of ``--evaluate`` and of the per-role figures stored with a model.
FOLDS = 5
#: A role is predicted (in the figures) and suggested (by default) from this probability up.
THRESHOLD = 0.5
#: A role whose cross-validated F1 falls below this is marked "low confidence" wherever it is suggested.
LOW_CONFIDENCE_F1 = 0.5
#: Evidence words shown per suggestion.
EVIDENCE_WORDS = 5
#: Bumped whenever the features, classifiers or their parameters change: part of the cache key.
MODEL_SPEC = "roles-tfidf-words12-chars35-ovr-logreg-c10-band-newtoncg-v1"
BANDS: tuple[str, ...] = tuple(EXPOSURE_BANDS)


@dataclass(frozen=True)
class Example:
    """One labelled text: whose it is (``symbol``, also the cross-validation group), the text, its roles and its
    exposure band (None when unknown: it then teaches roles only)."""

    symbol: str
    text: str
    roles: tuple[str, ...]
    band: str | None


def _vectorizers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(**WORD_FEATURES), TfidfVectorizer(**CHAR_FEATURES)


def _role_classifier() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(
        LogisticRegression(C=C, class_weight="balanced", solver="liblinear", random_state=SEED, max_iter=1000)
    )


def _band_classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    # newton-cg: the multinomial fit in a tenth of lbfgs's time on these wide sparse features
    return LogisticRegression(C=C, class_weight="balanced", solver="newton-cg", random_state=SEED, max_iter=1000)


def role_pipeline() -> Any:
    """The unfitted role pipeline: a union of word and character TF-IDF, then one logistic regression per role."""
    from sklearn.pipeline import FeatureUnion, Pipeline

    words, chars = _vectorizers()
    return Pipeline([("features", FeatureUnion([("words", words), ("chars", chars)])), ("roles", _role_classifier())])


def label_matrix(examples: Sequence[Example]) -> np.ndarray:
    """0/1 rows, one column per role in contract order."""
    return np.array([[int(r in e.roles) for r in ROLES] for e in examples], dtype=np.int64)


@dataclass(frozen=True)
class LearnedModel:
    """The learnt parameters, enough to predict without the fitted objects."""

    word_vocab: np.ndarray
    word_idf: np.ndarray
    char_vocab: np.ndarray
    char_idf: np.ndarray
    role_coef: np.ndarray  # (roles, features)
    role_intercept: np.ndarray  # (roles,)
    band_coef: np.ndarray  # (bands, features)
    band_intercept: np.ndarray  # (bands,)
    bands: tuple[str, ...]

    def to_bytes(self) -> bytes:
        """A numpy archive of the parameters (strings as unicode arrays, so no pickle is needed to read it)."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            word_vocab=self.word_vocab.astype(str),
            word_idf=self.word_idf,
            char_vocab=self.char_vocab.astype(str),
            char_idf=self.char_idf,
            role_coef=self.role_coef,
            role_intercept=self.role_intercept,
            band_coef=self.band_coef,
            band_intercept=self.band_intercept,
            bands=np.array(self.bands, dtype=str),
            roles=np.array(ROLES, dtype=str),
            spec=np.array([MODEL_SPEC], dtype=str),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> LearnedModel:
        """Read parameters written by ``to_bytes``; an archive of another spec or role list is refused (retrain)."""
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            if str(z["spec"][0]) != MODEL_SPEC or tuple(str(r) for r in z["roles"]) != ROLES:
                raise ValueError("the stored model was learnt under another specification")
            return cls(
                z["word_vocab"],
                z["word_idf"],
                z["char_vocab"],
                z["char_idf"],
                z["role_coef"],
                z["role_intercept"],
                z["band_coef"],
                z["band_intercept"],
                tuple(str(b) for b in z["bands"]),
            )

    @property
    def n_words(self) -> int:
        return len(self.word_vocab)

    def features(self, texts: Sequence[str]) -> csr_matrix:
        """TF-IDF features of ``texts`` under the learnt vocabularies: word columns first, then character columns."""
        from scipy.sparse import hstack

        parts = []
        for vec, vocab, idf in zip(_vectorizers(), (self.word_vocab, self.char_vocab), (self.word_idf, self.char_idf)):
            vec.set_params(vocabulary={str(t): i for i, t in enumerate(vocab)})
            vec._validate_vocabulary()
            vec.idf_ = idf
            parts.append(vec.transform(list(texts)))
        return hstack(parts).tocsr()

    def role_probabilities(self, x: csr_matrix) -> np.ndarray:
        """P(role | text) per row and role (contract order): the logistic of each role's linear score."""
        scores = np.asarray(x @ self.role_coef.T) + self.role_intercept
        return 1.0 / (1.0 + np.exp(-scores))

    def band_probabilities(self, x: csr_matrix) -> np.ndarray:
        """P(band | text) per row and band (``bands`` order): the softmax of the band scores."""
        scores = np.asarray(x @ self.band_coef.T) + self.band_intercept
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    def evidence(self, x: csr_matrix, row: int, weights: np.ndarray) -> list[str]:
        """The words of text ``row`` that pushed a score up most (feature value x weight > 0), strongest first;
        ties break on the word. Only word features are named: a character fragment explains nothing to a reader."""
        vec = x.getrow(row)
        found = []
        for j, value in zip(vec.indices, vec.data):
            if j < self.n_words:
                push = float(value * weights[j])
                if push > 0:
                    found.append((-push, str(self.word_vocab[j])))
        return [word for _, word in sorted(found)[:EVIDENCE_WORDS]]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run numerical libraries on one thread inside the block.

    Why: these problems are tiny (hundreds of texts); several BLAS threads fighting over a few shared cores turned
    a sub-second fit into a dozen seconds, and one thread also keeps floating-point sums in one order."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def fit(examples: Sequence[Example]) -> LearnedModel:
    """Learn the role and band classifiers from ``examples`` (every role must have a positive and a negative)."""
    with one_thread():
        return _fit(examples)


def _fit(examples: Sequence[Example]) -> LearnedModel:

    texts = [e.text for e in examples]
    y = label_matrix(examples)
    missing = [ROLES[j] for j in range(len(ROLES)) if y[:, j].min() == y[:, j].max()]
    if missing:
        raise ValueError(f"no positive or no negative example for role(s) {', '.join(missing)}")
    pipe = role_pipeline().fit(texts, y)
    union = pipe.named_steps["features"]
    words, chars = (t for _, t in union.transformer_list)
    estimators = pipe.named_steps["roles"].estimators_
    role_coef = np.vstack([est.coef_[0] for est in estimators])
    role_intercept = np.array([est.intercept_[0] for est in estimators])
    banded = [i for i, e in enumerate(examples) if e.band is not None]
    x = union.transform([texts[i] for i in banded])
    labels = [examples[i].band for i in banded]
    present = tuple(b for b in BANDS if b in labels)
    if len(present) < 2:
        raise ValueError("the exposure band needs examples of at least two bands")
    band = _band_classifier().fit(x, labels)
    classes = tuple(str(c) for c in band.classes_)
    return LearnedModel(
        words.get_feature_names_out(),
        words.idf_,
        chars.get_feature_names_out(),
        chars.idf_,
        role_coef,
        role_intercept,
        band.coef_,
        band.intercept_,
        classes,
    )


def folds(examples: Sequence[Example], k: int = FOLDS, seed: int = SEED) -> list[int]:
    """A fold number per example: iterative stratification over companies (Sechidis et al., 2011).

    Why: a company's texts (its corpus description and its stored profile) stay in one fold, or the model would be
    scored on a text it learnt from; and each fold gets its share of every role, rarest role first, so a role with
    five members is not left out of a fold's test set by chance. Ties between folds break on the fold that still
    wants most examples, then on the lower fold number; companies are visited in a seeded shuffle.
    """
    groups: dict[str, set[str]] = {}
    for e in examples:
        groups.setdefault(e.symbol, set()).update(e.roles)
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    wanted = {r: [sum(r in groups[g] for g in names) / k] * k for r in ROLES}
    total = [len(names) / k] * k
    fold_of: dict[str, int] = {}
    left = list(names)
    while left:
        counts = {r: sum(r in groups[g] for g in left) for r in ROLES}
        live = [r for r in ROLES if counts[r] > 0]
        if not live:
            for g in left:
                f = max(range(k), key=lambda i: (total[i], -i))
                fold_of[g] = f
                total[f] -= 1
            break
        role = min(live, key=lambda r: (counts[r], ROLES.index(r)))
        for g in [g for g in left if role in groups[g]]:
            f = max(range(k), key=lambda i: (wanted[role][i], total[i], -i))
            fold_of[g] = f
            total[f] -= 1
            for r in groups[g]:
                wanted[r][f] -= 1
        left = [g for g in left if g not in fold_of]
    return [fold_of[e.symbol] for e in examples]


def out_of_fold(examples: Sequence[Example], k: int = FOLDS, seed: int = SEED) -> np.ndarray:
    """Each example's role probabilities from a model that did not see its company (``folds``)."""
    with one_thread():
        return _out_of_fold(examples, k, seed)


def _out_of_fold(examples: Sequence[Example], k: int, seed: int) -> np.ndarray:
    texts = [e.text for e in examples]
    y = label_matrix(examples)
    fold = np.array(folds(examples, k, seed))
    probs = np.zeros(y.shape, dtype=np.float64)
    for f in range(k):
        test = np.flatnonzero(fold == f)
        train = np.flatnonzero(fold != f)
        if len(test) == 0:
            continue
        with warnings.catch_warnings():
            # a role absent from a training fold is predicted as absent: scored honestly, not an error
            warnings.simplefilter("ignore", UserWarning)
            pipe = role_pipeline().fit([texts[i] for i in train], y[train])
        probs[test] = pipe.predict_proba([texts[i] for i in test])
    return probs


def band_accuracy(examples: Sequence[Example], k: int = FOLDS, seed: int = SEED) -> tuple[float, float, int] | None:
    """Cross-validated accuracy of the exposure band on the examples with a band (same folds as the roles), the
    accuracy of always answering the most common band (the bar to beat), and how many texts were scored; None when
    fewer than two bands are present."""
    with one_thread():
        from sklearn.pipeline import FeatureUnion, Pipeline

        fold = folds(examples, k, seed)
        banded = [(e, f) for e, f in zip(examples, fold, strict=True) if e.band is not None]
        labels = [e.band for e, _ in banded]
        if len(set(labels)) < 2:
            return None
        right = 0
        for f in range(k):
            train = [(e.text, e.band) for e, g in banded if g != f]
            test = [(e.text, e.band) for e, g in banded if g == f]
            if not test or len({b for _, b in train}) < 2:
                continue
            words, chars = _vectorizers()
            pipe = Pipeline(
                [("features", FeatureUnion([("words", words), ("chars", chars)])), ("band", _band_classifier())]
            )
            pipe.fit([t for t, _ in train], [b for _, b in train])
            got = pipe.predict([t for t, _ in test])
            right += sum(int(p == b) for p, (_, b) in zip(got, test, strict=True))
        common = max(labels.count(b) for b in set(labels))
        return right / len(labels), common / len(labels), len(labels)


def scores(truth: np.ndarray, predicted: np.ndarray) -> list[dict[str, Any]]:
    """Precision, recall and F1 per role (contract order), then their unweighted mean as ``macro``.

    Precision of a role never predicted is unknown (None), not zero; F1 is 2TP / (2TP + FP + FN), defined whenever
    the role has members. The macro figures average the roles whose figure is known."""
    rows: list[dict[str, Any]] = []
    for j, role in enumerate(ROLES):
        t = truth[:, j].astype(bool)
        p = predicted[:, j].astype(bool)
        tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
        rows.append(
            {
                "role": role,
                "precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / (tp + fn) if tp + fn else None,
                "f1": 2 * tp / (2 * tp + fp + fn) if tp + fn else None,
                "support": tp + fn,
            }
        )

    def mean(key: str) -> float | None:
        known = [r[key] for r in rows if r[key] is not None]
        return sum(known) / len(known) if known else None

    rows.append(
        {
            "role": "macro",
            "precision": mean("precision"),
            "recall": mean("recall"),
            "f1": mean("f1"),
            "support": int(truth.sum()),
        }
    )
    return rows
