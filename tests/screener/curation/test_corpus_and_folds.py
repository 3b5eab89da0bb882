"""The labelled corpus (coverage, agreement with the bundled universe, validation) and the cross-validation folds."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.contract import EXPOSURE_BANDS, ROLES, exposure_band
from screener.curation import model as m
from screener.curation.corpus import check_corpus, read_corpus
from screener.curation.keywords import ROLE_KEYWORDS, keyword_roles
from screener.errors import ScreenerError
from screener.paths import bundled_data_dir


def _bundled() -> pl.DataFrame:
    return pl.read_csv(bundled_data_dir() / "companies.csv", infer_schema=False)


def test_corpus_covers_every_bundled_company_and_forty_more_across_every_role() -> None:
    corpus, _raw = read_corpus()
    bundled = _bundled()
    assert set(bundled["symbol"]) <= set(corpus["symbol"])
    further = corpus.filter(~pl.col("symbol").is_in(bundled["symbol"].implode()))
    assert further.height >= 40
    further_roles = {r for roles in further["roles"] for r in roles.split(";")}
    assert further_roles == set(ROLES)


def test_bundled_rows_agree_with_the_universe_on_roles_and_band() -> None:
    corpus, _raw = read_corpus()
    joined = _bundled().join(corpus, on="symbol", suffix="_corpus")
    for row in joined.iter_rows(named=True):
        assert set(row["roles"].split(";")) == set(row["roles_corpus"].split(";")), row["symbol"]
        assert row["exposure_band"] == exposure_band(float(row["exposure"])), row["symbol"]


def test_the_shipped_corpus_passes_validation() -> None:
    corpus, _raw = read_corpus()
    check_corpus(corpus)


def test_a_bad_corpus_row_is_a_one_line_error(tmp_path: Path) -> None:
    corpus, _raw = read_corpus()
    bad = corpus.with_columns(
        pl.when(pl.col("symbol") == "MP").then(pl.lit("miner;smelter")).otherwise(pl.col("roles")).alias("roles")
    )
    with pytest.raises(ScreenerError, match=r"roles = 'miner;smelter'") as err:
        check_corpus(bad, "descriptions.csv")
    assert "\n" not in str(err.value)
    path = tmp_path / "descriptions.csv"
    corpus.drop("exposure_band").write_csv(path)
    with pytest.raises(ScreenerError, match="lacks column"):
        read_corpus(path)


def test_exposure_bands_follow_their_lower_bounds() -> None:
    assert exposure_band(None) is None
    assert [exposure_band(x) for x in (0.0, 0.099, 0.1, 0.49, 0.5, 1.0)] == [
        "minor",
        "minor",
        "partial",
        "partial",
        "core",
        "core",
    ]
    assert set(EXPOSURE_BANDS) == set(m.BANDS)


def test_every_role_has_keywords_and_they_match_whole_words() -> None:
    assert set(ROLE_KEYWORDS) == set(ROLES)
    assert keyword_roles("Operates a mine and a separation plant") == ["miner", "processor"]
    assert keyword_roles("Undermined expectations") == []


_examples = st.lists(
    st.tuples(st.sampled_from([f"S{i}" for i in range(30)]), st.sets(st.sampled_from(ROLES), min_size=1)),
    min_size=1,
    max_size=80,
)


@settings(max_examples=40, deadline=None)
@given(_examples, st.integers(min_value=2, max_value=6))
def test_folds_keep_a_company_together_and_are_reproducible(raw: list[tuple[str, set[str]]], k: int) -> None:
    examples = [m.Example(sym, f"text {i}", tuple(sorted(roles)), None) for i, (sym, roles) in enumerate(raw)]
    folds = m.folds(examples, k)
    assert folds == m.folds(examples, k)
    assert all(0 <= f < k for f in folds)
    by_symbol: dict[str, set[int]] = {}
    for e, f in zip(examples, folds, strict=True):
        by_symbol.setdefault(e.symbol, set()).add(f)
    assert all(len(v) == 1 for v in by_symbol.values())


def test_folds_spread_a_rare_role() -> None:
    examples = [m.Example(f"R{i}", "t", ("chemicals_tolling",), None) for i in range(5)]
    examples += [m.Example(f"M{i}", "t", ("miner",), None) for i in range(45)]
    folds = m.folds(examples, 5)
    assert sorted(folds[:5]) == [0, 1, 2, 3, 4]


def test_scores_mark_an_unpredicted_role_unknown_not_zero() -> None:
    import numpy as np

    truth = np.zeros((4, len(ROLES)), dtype=np.int64)
    truth[:2, 0] = 1
    predicted = np.zeros_like(truth)
    rows = {r["role"]: r for r in m.scores(truth, predicted)}
    assert rows["miner"]["precision"] is None and rows["miner"]["recall"] == 0.0 and rows["miner"]["f1"] == 0.0
    assert rows["processor"]["f1"] is None  # no members: unknown
    assert rows["macro"]["f1"] == 0.0


def test_a_broken_corpus_stops_training_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty roles cell in the shipped corpus is named by the suite before any model is learnt or cached."""
    from screener.curation import corpus as corpus_module
    from screener.curation.suggest import model_for
    from screener.store import Store

    corpus, _raw = read_corpus()
    broken = corpus.with_columns(pl.when(pl.col("symbol") == "MP").then(None).otherwise(pl.col("roles")).alias("roles"))
    path = tmp_path / "descriptions.csv"
    broken.write_csv(path)
    monkeypatch.setattr(corpus_module, "corpus_path", lambda: path)
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(ScreenerError, match=r"\(MP\): roles") as err:
            model_for(store)
        assert "\n" not in str(err.value)
        assert store.suggestion_models().height == 0
