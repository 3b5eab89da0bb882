"""The suggestion model: TF-IDF on words and character n-grams, then one-vs-rest logistic regression per role, and
a multinomial logistic regression for the exposure band.

Why this model: descriptions are short and few (a few hundred), the roles overlap (a miner may also separate), and
the rare roles (tolling, equipment) have a handful of examples. A linear model on TF-IDF learns from that little,
weighs rare roles up (``class_weight='balanced'``), fits in under a second and explains itself: each
suggestion's evidence is the words whose weights pushed it up. Character n-grams catch word forms the word
features miss (``separat`` in separates, separation, separated).

What is stored is the learnt parameters, not a pickled object: the vocabularies, inverse document frequencies,
coefficients and intercepts, as a numpy archive read back with ``allow_pickle=False``. Prediction rebuilds the two
vectorizers with those vocabularies and weights and applies the coefficients directly, so it gives the same
probabilities as the fitted pipeline. Beside the model learnt from every text, one model per cross-validation fold is
kept (``ModelSet``): a company the model learnt from is read by the fold model that never saw it. scikit-learn is
imported inside the functions that need it.
"""

from __future__ import annotations

import io
import random
import re
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
MODEL_SPEC = "roles-tfidf-words12-chars35-ovr-logreg-c10-band-newtoncg-folds5-v2"
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


def _stamp() -> dict[str, np.ndarray]:
    return {"roles": np.array(ROLES, dtype=str), "spec": np.array([MODEL_SPEC], dtype=str)}


def _check_stamp(z: Any) -> None:
    if str(z["spec"][0]) != MODEL_SPEC or tuple(str(r) for r in z["roles"]) != ROLES:
        raise ValueError("the stored model was learnt under another specification")


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

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """The parameters as named arrays (strings as unicode arrays, so no pickle is needed to read them)."""
        named = {
            "word_vocab": self.word_vocab.astype(str),
            "word_idf": self.word_idf,
            "char_vocab": self.char_vocab.astype(str),
            "char_idf": self.char_idf,
            "role_coef": self.role_coef,
            "role_intercept": self.role_intercept,
            "band_coef": self.band_coef,
            "band_intercept": self.band_intercept,
            "bands": np.array(self.bands, dtype=str),
        }
        return {prefix + k: v for k, v in named.items()}

    @classmethod
    def from_arrays(cls, z: Any, prefix: str = "") -> LearnedModel:
        """The model whose ``arrays(prefix)`` are in ``z`` (an open numpy archive)."""
        return cls(
            z[prefix + "word_vocab"],
            z[prefix + "word_idf"],
            z[prefix + "char_vocab"],
            z[prefix + "char_idf"],
            z[prefix + "role_coef"],
            z[prefix + "role_intercept"],
            z[prefix + "band_coef"],
            z[prefix + "band_intercept"],
            tuple(str(b) for b in z[prefix + "bands"]),
        )

    def to_bytes(self) -> bytes:
        """A numpy archive of the parameters, with the role list and model spec it was learnt under."""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.arrays(), **_stamp())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> LearnedModel:
        """Read parameters written by ``to_bytes``; an archive of another spec or role list is refused (retrain)."""
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            _check_stamp(z)
            return cls.from_arrays(z)

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

    def evidence(
        self, x: csr_matrix, row: int, weights: np.ndarray, leave_out: frozenset[str] = frozenset()
    ) -> list[str]:
        """The words of text ``row`` that pushed a score up most (feature value x weight > 0), strongest first;
        ties break on the word. Only word features are named: a character fragment explains nothing to a reader.

        A feature holding any word of ``leave_out`` (lower case) is skipped: a company's own name is no evidence of
        what it does, it only says that the model has read about the company."""
        vec = x.getrow(row)
        found = []
        for j, value in zip(vec.indices, vec.data):
            if j < self.n_words:
                push = float(value * weights[j])
                if push > 0:
                    word = str(self.word_vocab[j])
                    if leave_out and leave_out.intersection(word.split(" ")):
                        continue
                    found.append((-push, word))
        return [word for _, word in sorted(found)[:EVIDENCE_WORDS]]


def name_words(name: str | None) -> frozenset[str]:
    """The lower-case words of a company name, as the word features split them (what ``evidence`` leaves out)."""
    if not name:
        return frozenset()
    return frozenset(w.lower() for w in re.findall(WORD_FEATURES["token_pattern"], name))


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


def _fit(examples: Sequence[Example], *, fold: bool = False) -> LearnedModel:
    """The fit. A fold's training part may lack a role (a rare role's members all in the held-out fold): that role
    is then predicted as its one training value, probability 0 (or 1), as scikit-learn's one-vs-rest does; the full
    model must see both values of every role."""
    texts = [e.text for e in examples]
    y = label_matrix(examples)
    missing = [ROLES[j] for j in range(len(ROLES)) if y[:, j].min() == y[:, j].max()]
    if missing and not fold:
        raise ValueError(f"no positive or no negative example for role(s) {', '.join(missing)}")
    with warnings.catch_warnings():
        # a role absent from a training fold is predicted as absent: scored honestly, not an error
        warnings.simplefilter("ignore", UserWarning)
        pipe = role_pipeline().fit(texts, y)
    union = pipe.named_steps["features"]
    words, chars = (t for _, t in union.transformer_list)
    width = len(words.vocabulary_) + len(chars.vocabulary_)
    coefs, intercepts = [], []
    for j, est in enumerate(pipe.named_steps["roles"].estimators_):
        if hasattr(est, "coef_"):
            coefs.append(est.coef_[0])
            intercepts.append(est.intercept_[0])
        else:  # a constant role of a fold: no weights, an infinite intercept gives exactly 0 or 1
            coefs.append(np.zeros(width))
            intercepts.append(np.inf if y[0, j] else -np.inf)
    role_coef = np.vstack(coefs)
    role_intercept = np.array(intercepts, dtype=np.float64)
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


@dataclass(frozen=True)
class ModelSet:
    """The model learnt from every example, and one model per cross-validation fold learnt without that fold.

    Why keep the fold models: a company whose text the model learnt from must not be graded by that model (it
    would largely repeat the company's own tags back, wrong ones included). Such a company is read by the fold
    model that never saw it, so its probabilities are of the same kind the cross-validated figures describe;
    ``fold_of`` says which companies (symbols) were learnt from, and in which fold."""

    full: LearnedModel
    folds: tuple[LearnedModel, ...]
    fold_of: dict[str, int]

    def for_symbol(self, symbol: str) -> LearnedModel:
        """The model to read ``symbol`` with: its fold's when the company was learnt from, else the full model."""
        f = self.fold_of.get(symbol)
        return self.full if f is None else self.folds[f]

    def to_bytes(self) -> bytes:
        """One numpy archive: the full model, each fold model (prefixed ``fN_``), the symbols and their folds."""
        arrays = self.full.arrays()
        for f, learned in enumerate(self.folds):
            arrays.update(learned.arrays(f"f{f}_"))
        names = sorted(self.fold_of)
        arrays["fold_symbols"] = np.array(names, dtype=str)
        arrays["fold_numbers"] = np.array([self.fold_of[n] for n in names], dtype=np.int64)
        arrays["fold_count"] = np.array([len(self.folds)], dtype=np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays, **_stamp())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> ModelSet:
        """Read an archive written by ``to_bytes``; another spec or role list is refused (retrain)."""
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            _check_stamp(z)
            count = int(z["fold_count"][0])
            fold_of = {str(s): int(f) for s, f in zip(z["fold_symbols"], z["fold_numbers"], strict=True)}
            return cls(
                LearnedModel.from_arrays(z), tuple(LearnedModel.from_arrays(z, f"f{f}_") for f in range(count)), fold_of
            )


@dataclass(frozen=True)
class CrossValidated:
    """What training gives: the models, each example's out-of-fold role probabilities (rows as the examples), and
    the band figures of ``train`` (None when fewer than two bands are labelled)."""

    models: ModelSet
    role_probabilities: np.ndarray
    band: tuple[float, float, int] | None


def train(examples: Sequence[Example], k: int = FOLDS, seed: int = SEED) -> CrossValidated:
    """Fit on every example, and once per fold without it (``folds``): each example is then predicted by the model
    that did not see its company, for the roles and for the band.

    The band figures: accuracy on the examples with a band, the accuracy of always answering the most common band
    (the bar to beat), and how many texts were scored."""
    with one_thread():
        full = _fit(examples)
        fold = folds(examples, k, seed)
        probs = np.zeros((len(examples), len(ROLES)), dtype=np.float64)
        fold_models = []
        right = 0
        for f in range(k):
            test = [i for i, g in enumerate(fold) if g == f]
            learned = _fit([e for e, g in zip(examples, fold, strict=True) if g != f], fold=True)
            fold_models.append(learned)
            if not test:
                continue
            x = learned.features([examples[i].text for i in test])
            probs[test] = learned.role_probabilities(x)
            bands = learned.band_probabilities(x)
            for row, i in enumerate(test):
                if examples[i].band is not None:
                    right += int(learned.bands[int(np.argmax(bands[row]))] == examples[i].band)
    labels = [e.band for e in examples if e.band is not None]
    band = None
    if len(set(labels)) >= 2:
        common = max(labels.count(b) for b in set(labels))
        band = (right / len(labels), common / len(labels), len(labels))
    fold_of = {e.symbol: g for e, g in zip(examples, fold, strict=True)}
    return CrossValidated(ModelSet(full, tuple(fold_models), fold_of), probs, band)


def out_of_fold(examples: Sequence[Example], k: int = FOLDS, seed: int = SEED) -> np.ndarray:
    """Each example's role probabilities from a model that did not see its company (``folds``)."""
    return train(examples, k, seed).role_probabilities


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
