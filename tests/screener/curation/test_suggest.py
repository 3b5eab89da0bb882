"""``universe suggest``: the model's behaviour on held-out texts, determinism, the store's model cache, acceptance
into the tag history, the evaluation's shape, and one-line errors.

One store with the bundled universe is built per module and copied for each test that changes it: loading the
universe and learning the first model are the slow parts.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from screener.contract import ROLES
from screener.curation import model as m
from screener.curation.corpus import read_corpus
from screener.curation.suggest import accept, evaluate, labelled_examples, model_for, suggest
from screener.errors import ScreenerError
from screener.store import Store
from tests.builders import modules_loaded_by

#: Written for these tests, kept out of the corpus: a separator and a car maker the model has never read.
SEPARATOR = (
    "Runs a hydrometallurgical plant that separates mixed rare-earth concentrate from third-party mines into "
    "individual high-purity oxides such as NdPr and dysprosium oxide."
)
CAR_MAKER = "Designs and assembles sedans, hatchbacks and electric crossovers sold through dealers in Europe and Asia."
#: A separator, written for these tests, that a user imports with a wrong placeholder tag (``downstream_user``).
MISTAGGED = (
    "Separates mixed rare-earth carbonate into NdPr oxide and heavy rare-earth oxides at a solvent-extraction plant "
    "in Estonia."
)


@pytest.fixture
def bundled_db(store_template) -> Path:
    """A store holding the bundled universe and its first cached model, built once per run (closed: tests copy
    it)."""
    from screener.intake.universe import load_bundled

    def fill(store: Store, _folder: Path) -> None:
        load_bundled(store)
        model_for(store)

    return store_template("bundled-model", fill)[0]


@pytest.fixture
def own_db(bundled_db: Path, db_path: Path) -> Path:
    """This test's own copy of the bundled store (the ``invoke`` fixture's ``--db``)."""
    shutil.copy(bundled_db, db_path)
    return db_path


def _probabilities(text: str, learned: m.LearnedModel) -> dict[str, float]:
    x = learned.features([text])
    return dict(zip(ROLES, learned.role_probabilities(x)[0].tolist(), strict=True))


def test_held_out_texts_are_not_in_the_corpus() -> None:
    corpus, _raw = read_corpus()
    for text in (SEPARATOR, CAR_MAKER, MISTAGGED):
        assert text not in corpus["description"].to_list()


def test_a_held_out_separator_is_suggested_processor(own_db: Path) -> None:
    with Store(own_db) as store:
        learned = model_for(store).learned
    p = _probabilities(SEPARATOR, learned)
    assert p["processor"] >= 0.5
    assert max(p, key=p.__getitem__) == "processor", p


def test_a_held_out_car_maker_is_suggested_downstream_user(own_db: Path) -> None:
    with Store(own_db) as store:
        learned = model_for(store).learned
    p = _probabilities(CAR_MAKER, learned)
    assert p["downstream_user"] >= 0.5
    assert max(p, key=p.__getitem__) == "downstream_user", p
    assert p["miner"] < 0.5 and p["processor"] < 0.5


def test_two_trainings_give_the_same_probabilities_to_1e_9(own_db: Path) -> None:
    with Store(own_db) as store:
        examples, _key, _corpus = labelled_examples(store)
    first, second = m.fit(examples), m.fit(examples)
    texts = [SEPARATOR, CAR_MAKER, *[e.text for e in examples[:20]]]
    a = first.role_probabilities(first.features(texts))
    b = second.role_probabilities(second.features(texts))
    assert np.abs(a - b).max() <= 1e-9
    ba = first.band_probabilities(first.features(texts))
    bb = second.band_probabilities(second.features(texts))
    assert np.abs(ba - bb).max() <= 1e-9


def test_stored_parameters_predict_what_the_fitted_pipeline_predicts(own_db: Path) -> None:
    """The cache keeps learnt parameters, not the fitted objects: read back, they must give the pipeline's answer."""
    with Store(own_db) as store:
        examples, _key, _corpus = labelled_examples(store)
    texts = [e.text for e in examples]
    pipe = m.role_pipeline().fit(texts, m.label_matrix(examples))
    restored = m.LearnedModel.from_bytes(m.fit(examples).to_bytes())
    probe = [SEPARATOR, CAR_MAKER, *texts[:10]]
    got = restored.role_probabilities(restored.features(probe))
    assert np.abs(got - pipe.predict_proba(probe)).max() <= 1e-9


def test_the_model_is_cached_and_retrained_when_tags_change(own_db: Path) -> None:
    from screener.intake.universe import tag

    with Store(own_db) as store:
        first = model_for(store)
        again = model_for(store)
        assert not again.trained and again.version == first.version
        assert store.suggestion_models()["model_version"].to_list() == [first.version]
        tag(store, "MP", ["trader_offtaker"], [], "a test citation")
        changed = model_for(store)
        assert changed.trained and changed.version != first.version
        assert store.suggestion_models()["model_version"].to_list() == [changed.version]
        assert not model_for(store).trained


def _snapshot(store: Store) -> tuple[object, ...]:
    return (
        store.companies().drop("loaded_at").sort("symbol").rows(),
        store.tag_history().rows(),
        store.query("SELECT symbol, role, origin, source FROM role_tags ORDER BY 1, 2").rows(),
        store.data_version(),
    )


def test_suggest_alone_changes_nothing_stored(own_db: Path) -> None:
    with Store(own_db) as store:
        before = _snapshot(store)
        found = suggest(store, min_confidence=0.0)
        assert found.frame.height >= store.company_count()
        assert _snapshot(store) == before


def test_rows_name_probability_evidence_and_low_confidence(own_db: Path) -> None:
    with Store(own_db) as store:
        found = suggest(store, ["MP", "7203.T"], min_confidence=0.0)
    frame = found.frame
    assert set(frame["symbol"]) == {"MP", "7203.T"}
    assert frame.filter(pl.col("symbol") == "MP").height == len(ROLES)  # min_confidence 0: every role
    for row in frame.iter_rows(named=True):
        f1 = found.model.f1_of(row["role"])
        assert row["confidence"] == ("low confidence" if f1 is None or f1 < 0.5 else "normal")
        assert 0.0 <= row["probability"] <= 1.0
    top = frame.filter(pl.col("symbol") == "7203.T").row(0, named=True)
    assert top["role"] == "downstream_user" and top["tagged"]
    assert top["evidence"] and top["exposure_band"] == "minor"
    # sorted by symbol, then probability, highest first
    mp = frame.filter(pl.col("symbol") == "MP")["probability"].to_list()
    assert mp == sorted(mp, reverse=True)


def test_accept_records_probability_and_model_version(own_db: Path) -> None:
    with Store(own_db) as store:
        found = suggest(store, min_confidence=0.2)
        new = found.frame.filter(~pl.col("tagged")).sort(
            "probability", "symbol", "role", descending=[True, False, False]
        )
        assert new.height, "the bundled store should give at least one untagged suggestion at 0.2"
        pick = new.row(0, named=True)
        done = accept(store, pick["symbol"], "reviewed: test source", roles=[pick["role"]], min_confidence=0.2)
        assert pick["role"] in done.roles and pick["role"] in store.current_roles(pick["symbol"])
        history = store.accepted_suggestions(pick["symbol"])
        assert history.height == 1
        row = history.row(0, named=True)
        assert row["role"] == pick["role"] and row["action"] == "add"
        assert row["source"] == "reviewed: test source"
        assert row["probability"] == pytest.approx(pick["probability"], abs=1e-12)
        assert row["model_version"] == pick["model_version"] == found.model.version
        full = store.tag_history(pick["symbol"]).filter(pl.col("model_version").is_not_null())
        assert full.select("role", "probability").rows() == [(pick["role"], row["probability"])]


def test_accept_refuses_a_role_that_is_not_suggested(own_db: Path) -> None:
    with Store(own_db) as store:
        before = _snapshot(store)
        with pytest.raises(ScreenerError, match="not suggested"):
            accept(store, "7203.T", "a source", roles=["equipment_supplier"], min_confidence=0.99)
        with pytest.raises(ScreenerError, match="source"):
            accept(store, "7203.T", "  ")
        assert _snapshot(store) == before


def test_evaluate_json_shape(own_db: Path, invoke) -> None:
    res = invoke("universe", "suggest", "--evaluate", "--format", "json")
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert re.search(r"exposure band: cross-validated accuracy 0\.\d\d on \d+ texts", res.stderr), res.stderr
    assert {tuple(sorted(r)) for r in rows} == {("f1", "model", "precision", "recall", "role", "support")}
    assert [(r["model"], r["role"]) for r in rows] == [
        (model, role) for model in ("classifier", "keywords") for role in (*ROLES, "macro")
    ]
    for r in rows:
        for key in ("precision", "recall", "f1"):
            assert r[key] is None or 0.0 <= r[key] <= 1.0
    with Store(own_db) as store:
        again, _trained = evaluate(store)
    assert again.rows() == [tuple(r.values()) for r in rows]  # deterministic


def test_suggest_json_rows_carry_symbol_role_probability_evidence(own_db: Path, invoke) -> None:
    res = invoke("universe", "suggest", "LYC.AX", "tsla", "--format", "json")
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert rows and {r["symbol"] for r in rows} <= {"LYC.AX", "TSLA"}
    assert all({"symbol", "role", "probability", "evidence"} <= set(r) for r in rows)
    assert all(r["probability"] >= 0.5 for r in rows)
    assert "nothing was changed" in res.stderr


def test_cli_accept_stores_the_suggested_roles(own_db: Path, invoke) -> None:
    with Store(own_db) as store:
        found = suggest(store, min_confidence=0.2)
    untagged = found.frame.filter(~pl.col("tagged")).sort("symbol")
    symbol = untagged["symbol"][0]
    roles = set(untagged.filter(pl.col("symbol") == symbol)["role"])
    res = invoke(
        "universe", "suggest", "--accept", symbol, "--min-confidence", "0.2", "--source", "desk review", "--format",
        "csv",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    with Store(own_db) as store:
        stored = store.accepted_suggestions(symbol)
        assert set(stored["role"]) == roles
        assert roles <= set(store.current_roles(symbol))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOSUCH"], "unknown symbol 'NOSUCH'"),
        (["--min-confidence", "1.5"], "--min-confidence must be between 0 and 1"),
        (["--accept", "MP"], "--accept needs --source"),
        (["--evaluate", "MP"], "--evaluate takes no SYMBOL"),
        (["MP", "--all-untagged"], "takes no symbols"),
        (["--source", "x"], "--source and --effective go with --accept"),
        (["--accept", "NOSUCH", "--source", "x"], "unknown symbol 'NOSUCH'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(own_db: Path, invoke, args: list[str], message: str) -> None:
    with Store(own_db) as store:
        before = _snapshot(store)
    res = invoke("universe", "suggest", *args)
    assert res.exit_code == 1
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    with Store(own_db) as store:
        assert _snapshot(store) == before


def test_an_empty_store_is_a_one_line_error(invoke, db_path: Path) -> None:
    Store(db_path).close()  # a store with its schema and no companies
    res = invoke("universe", "suggest")
    assert res.exit_code == 1 and "no companies yet" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_untagged_and_textless_companies(own_db: Path) -> None:
    """--all-untagged shows only roles a company does not carry (every role of a company without tags); a company
    without any text is unknown, not 'no role'."""
    with Store(own_db) as store:
        store.con.execute("UPDATE companies SET description = NULL WHERE symbol = 'MP'")
        store.con.execute("DELETE FROM role_tags WHERE symbol = 'LYC.AX'")
        everything = suggest(store)
        found = suggest(store, all_untagged=True)
    assert found.without_text == ["MP"] == everything.without_text
    assert "LYC.AX" in set(found.frame["symbol"]) and "MP" not in set(found.frame["symbol"])
    assert not found.frame["tagged"].any()
    assert found.frame.rows() == everything.frame.filter(~pl.col("tagged")).rows()
    assert everything.frame["tagged"].any()


def test_only_the_suggest_command_imports_sklearn(own_db: Path) -> None:
    def loads_sklearn(*args: str) -> bool:
        return modules_loaded_by(["--db", str(own_db), *args], ("sklearn",)) == ["sklearn"]

    assert not loads_sklearn("universe", "list", "--format", "csv")
    assert not loads_sklearn("universe", "suggest", "--help")
    assert loads_sklearn("universe", "suggest", "MP", "--format", "csv")


def _add_company(store: Store, symbol: str, name: str, description: str, roles: list[str]) -> None:
    """A new company (MP's row under another symbol, name and description), tagged with ``roles`` only."""
    from screener.intake.universe import tag

    store.con.execute(
        "INSERT INTO companies SELECT * REPLACE (? AS symbol, ? AS name, ? AS description) FROM companies "
        "WHERE symbol = 'MP'",
        [symbol, name, description],
    )
    store.con.execute("DELETE FROM role_tags WHERE symbol = ?", [symbol])
    if roles:
        tag(store, symbol, roles, [], "a test citation")


def test_a_wrongly_tagged_company_is_read_out_of_fold(own_db: Path) -> None:
    """The model learns from the wrong tag too; read by the full model, the company would get its wrong tag back
    (downstream_user 0.82, processor 0.41). Read by the fold model that never saw it, its true role is suggested
    and the wrong tag is not."""
    with Store(own_db) as store:
        _add_company(store, "ESTO.TE", "Baltic Carbonate Works", MISTAGGED, ["downstream_user"])
        untagged = suggest(store, all_untagged=True)
        every = suggest(store, ["ESTO.TE"], min_confidence=0.0)
    assert untagged.model.trained and every.model.version == untagged.model.version
    assert "ESTO.TE" in every.model.models.fold_of  # it is in the training data
    rows = {r["role"]: r for r in every.frame.iter_rows(named=True)}
    assert rows["downstream_user"]["tagged"] and rows["downstream_user"]["probability"] < 0.5, rows
    assert rows["processor"]["probability"] >= 0.5 and not rows["processor"]["tagged"]
    proposed = untagged.frame.filter(pl.col("symbol") == "ESTO.TE")
    assert "processor" in proposed["role"].to_list()


def test_stored_companies_get_their_out_of_fold_probabilities(own_db: Path) -> None:
    """The probabilities shown for a company the model learnt from are those the cross-validated figures were
    computed from; a company it never read is read by the full model."""
    with Store(own_db) as store:
        _add_company(store, "NEWCO.TE", "Newco", SEPARATOR, [])
        examples, _key, _corpus = labelled_examples(store)
        found = suggest(store, ["MP", "7203.T", "NEWCO.TE"], min_confidence=0.0)
    models = found.model.models
    assert "NEWCO.TE" not in models.fold_of
    oof = m.train(examples).role_probabilities
    # the store's own example of a company comes after the corpus's (labelled_examples)
    at = {e.symbol: i for i, e in enumerate(examples)}
    for symbol in ("MP", "7203.T"):
        shown = found.frame.filter(pl.col("symbol") == symbol)
        got = dict(zip(shown["role"], shown["probability"], strict=True))
        assert max(abs(got[r] - oof[at[symbol], j]) for j, r in enumerate(ROLES)) <= 1e-9
    newco = found.frame.filter(pl.col("symbol") == "NEWCO.TE")
    full = _probabilities(SEPARATOR, models.full)
    assert max(abs(p - full[r]) for r, p in zip(newco["role"], newco["probability"], strict=True)) <= 1e-9


def test_a_retrained_model_suggests_what_the_cached_one_did_to_1e_9(own_db: Path) -> None:
    with Store(own_db) as store:
        cached = suggest(store, min_confidence=0.0)
        assert not cached.model.trained
        store.con.execute("DELETE FROM suggestion_models")
        fresh = suggest(store, min_confidence=0.0)
        assert fresh.model.trained and fresh.model.version == cached.model.version
    a, b = cached.frame, fresh.frame
    assert a.drop("probability", "band_probability").rows() == b.drop("probability", "band_probability").rows()
    assert (a["probability"] - b["probability"]).abs().max() <= 1e-9
    assert (a["band_probability"] - b["band_probability"]).abs().max() <= 1e-9


def test_evidence_never_names_the_company_itself(own_db: Path) -> None:
    with Store(own_db) as store:
        _add_company(store, "NAMED.TE", "Tallinn Oxides", "Tallinn Oxides " + MISTAGGED, [])
        found = suggest(store, min_confidence=0.0)
    assert found.frame.filter(pl.col("symbol") == "NAMED.TE").height
    for row in found.frame.iter_rows(named=True):
        own = m.name_words(row["name"])
        for column in ("evidence", "band_evidence"):
            for feature in filter(None, row[column].split(";")):
                assert not own.intersection(feature.split(" ")), (row["symbol"], row["role"], feature)


def test_evaluate_reads_the_cached_figures(own_db: Path, invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the model cached, --evaluate neither cross-validates again nor reads the corpus more than once."""
    from screener.curation import suggest as suggest_module

    reads: list[int] = []
    real_read = suggest_module.read_corpus

    def counting_read() -> tuple[pl.DataFrame, bytes]:
        reads.append(1)
        return real_read()

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached model was trained again")

    monkeypatch.setattr(suggest_module, "read_corpus", counting_read)
    monkeypatch.setattr(m, "train", no_training)
    monkeypatch.setattr(m, "fit", no_training)
    res = invoke("universe", "suggest", "--evaluate", "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert "exposure band: cross-validated accuracy" in res.stderr
    assert len(reads) == 1
