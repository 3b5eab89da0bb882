"""The inbox's guards: an event only for a company of the universe, never over a stored event with the same key,
never from a headline published after the check's time or dated before the market could read it; a large store
listed in bounded time; honest cross-validation."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.curation.headlines import MAX_FILE_ROWS, import_headlines, store_headlines
from screener.curation.inbox import (
    CatalystModel,
    CompanyMatcher,
    aliases,
    candidates,
    cross_validated,
    event_date,
    parse_edits,
)
from screener.errors import ScreenerError
from screener.store import Store
from tests.screener.curation._inbox_helpers import (
    UNIVERSE,
    add_universe,
    by_start,
    inbox_rows,
    inbox_store,
    write_headlines,
)

HEADER = "headline,published_at,symbol,publisher,link\n"


@pytest.fixture
def inbox_db(db_path: Path, tmp_path: Path, store_template) -> Path:
    """A store with a small universe and the four headlines of ``HEADLINES`` imported through the CLI."""
    return inbox_store(store_template, db_path, tmp_path)


def _events(db_path: Path) -> pl.DataFrame:
    with Store(db_path) as store:
        return store.frame("events")


def _one_line_error(result, *parts: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


# -- 1. a symbol not in the universe ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("typed", "hint"), [("MPP", "'MP'"), ("LYC", "'LYC.AX'"), ("NOPE", None)])
def test_an_edited_symbol_not_in_the_universe_is_refused_with_a_hint(
    inbox_db: Path, invoke, typed: str, hint: str | None
) -> None:
    mystery = by_start(inbox_rows(invoke), "Mystery firm")
    result = invoke("events", "accept", mystery["id"], "--edit", f"symbol={typed}")
    line = _one_line_error(result, f"'{typed}' is not in the universe", "--edit symbol=SYMBOL", "nothing was stored")
    assert (f"did you mean {hint}?" in line) if hint else ("did you mean" not in line)
    assert _events(inbox_db).height == 0
    with Store(inbox_db) as store:
        assert store.headline_decision(mystery["id"]) is None
    # the typo is not permanent: the right symbol is still accepted
    assert invoke("events", "accept", mystery["id"], "--edit", "symbol=MP").exit_code == 0


def test_a_candidate_filed_under_a_symbol_outside_the_universe_is_refused(
    db_path: Path, tmp_path: Path, invoke
) -> None:
    with Store(db_path) as store:
        add_universe(store)
    path = write_headlines(tmp_path, HEADER + "Plant expansion approved,2025-03-04T10:00:00Z,NEO.T,Wire,\n")
    assert invoke("events", "import-headlines", str(path)).exit_code == 0
    row = inbox_rows(invoke)[0]
    assert row["matched_by"] == "symbol (not in the universe)"
    _one_line_error(invoke("events", "accept", row["id"]), "'NEO.T' is not in the universe", "did you mean 'NEO.TO'?")
    assert _events(db_path).height == 0


# -- 2. an event already stored under the same key -------------------------------------------------------------------
SYNDICATED = (
    HEADER
    + "Lynas signs offtake agreement with a magnet maker,2025-04-01T09:00:00Z,LYC.AX,Wire A,https://a.example/1\n"
    + "Lynas signs offtake agreement with a magnet maker,2025-04-01T11:00:00Z,LYC.AX,Wire B,https://b.example/1\n"
)


def test_a_second_copy_of_a_syndicated_headline_does_not_replace_the_first(
    db_path: Path, tmp_path: Path, invoke
) -> None:
    with Store(db_path) as store:
        add_universe(store)
    assert invoke("events", "import-headlines", str(write_headlines(tmp_path, SYNDICATED))).exit_code == 0
    first, second = sorted(inbox_rows(invoke), key=lambda r: r["published"])
    assert invoke("events", "accept", first["id"]).exit_code == 0
    stored = _events(db_path)
    line = _one_line_error(
        invoke("events", "accept", second["id"]),
        "already stored (provider file)",
        "of LYC.AX dated 2025-04-02",
        "nothing was stored",
        "--edit description=",
    )
    assert "Traceback" not in line
    assert _events(db_path).equals(stored), "the first event and its source are kept as they were"
    assert stored["source"].to_list() == ["Wire A https://a.example/1"]
    with Store(db_path) as store:
        assert store.headline_decision(second["id"]) is None
    # a distinct description stores a distinct event
    done = invoke("events", "accept", second["id"], "--edit", "description=Lynas offtake, as reported by Wire B")
    assert done.exit_code == 0, done.stderr
    assert _events(db_path).height == 2


def test_an_imported_event_with_the_same_key_is_not_replaced(db_path: Path, tmp_path: Path, invoke) -> None:
    with Store(db_path) as store:
        add_universe(store)
    assert invoke("events", "import-headlines", str(write_headlines(tmp_path, SYNDICATED))).exit_code == 0
    first = sorted(inbox_rows(invoke), key=lambda r: r["published"])[0]
    events = tmp_path / "events.csv"
    events.write_text(
        f"symbol,date,kind,description,source\nLYC.AX,2025-04-02,{first['kind']},{first['headline']},my own notes\n",
        encoding="utf-8",
    )
    imported = invoke("import", str(events))
    assert imported.exit_code == 0, imported.stderr
    before = _events(db_path)
    _one_line_error(invoke("events", "accept", first["id"]), "already stored (provider file)")
    assert _events(db_path).equals(before)
    assert before["source"].to_list() == ["my own notes"]


# -- 3. a publication after the current time -------------------------------------------------------------------------
NOW = datetime(2025, 7, 1, 12, 0)


def _frame(published: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": ["MP"],
            "headline": ["MP Materials starts magnet production"],
            "publisher": ["Wire"],
            "link": ["https://example.com/x"],
            "published_at": pl.Series([published], dtype=pl.Datetime("us")),
        }
    )


def test_a_headline_published_after_now_is_refused(store: Store) -> None:
    with pytest.raises(ScreenerError, match="column published_at: failed expect_column_values_to_be_between"):
        store_headlines(store, _frame(datetime(2025, 7, 1, 13, 0)), "file", "x", now=NOW, policy="refuse")
    assert store.stored_headlines().height == 0
    done = store_headlines(store, _frame(datetime(2025, 7, 1, 11, 59)), "file", "x", now=NOW, policy="refuse")
    assert done.stored == 1


def test_a_file_with_a_later_publication_is_refused_whole(store: Store, tmp_path: Path) -> None:
    path = write_headlines(
        tmp_path, HEADER + "Fine,2025-07-01T08:00:00Z,MP,,\nLater today,2025-07-01T18:00:00+02:00,MP,,\n"
    )
    with pytest.raises(ScreenerError, match="row 3, column published_at"):
        import_headlines(store, path, now=NOW)
    assert store.stored_headlines().height == 0


def test_a_news_story_published_after_now_is_rejected_not_stored(store: Store) -> None:
    frame = _frame(datetime(2025, 7, 1, 12, 30)).with_columns(pl.lit("yahoo-1").alias("native_id"))
    result = store_headlines(store, frame, "yahoo", "yahoo:news:MP", now=NOW)
    assert (result.stored, result.rejected) == (0, 1)


# -- 4. point in time ------------------------------------------------------------------------------------------------
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2199, 12, 30)))
def test_an_event_counts_from_the_utc_day_after_publication(published: datetime) -> None:
    day = event_date(published)
    assert (day - published.date()).days == 1
    # the close of that day on any covered exchange (the earliest: about 06:00 UTC, Asia) comes after publication
    assert datetime.combine(day, datetime.min.time()) > published


def test_a_headline_after_the_asx_close_is_not_in_that_days_score(db_path: Path, tmp_path: Path, invoke) -> None:
    with Store(db_path) as store:
        add_universe(store)
    # 08:00 UTC is 18:00 in Sydney: after the ASX's close of the 10th
    path = write_headlines(tmp_path, HEADER + "Lynas secures funding for its plant,2025-07-10T08:00:00Z,LYC.AX,,\n")
    assert invoke("events", "import-headlines", str(path)).exit_code == 0
    assert invoke("events", "accept", inbox_rows(invoke)[0]["id"]).exit_code == 0
    with Store(db_path) as store:
        assert store.known_events("LYC.AX", date(2025, 7, 10)).height == 0
        assert store.known_events("LYC.AX", date(2025, 7, 11)).height == 1


def test_a_headline_of_today_is_accepted_as_an_event_of_tomorrow(store: Store, tmp_path: Path) -> None:
    from screener.curation.inbox import accept

    add_universe(store)
    path = write_headlines(tmp_path, HEADER + "Lynas starts production at the plant,2025-07-10T08:00:00Z,LYC.AX,,\n")
    import_headlines(store, path, now=datetime(2025, 7, 10, 9, 0))
    head = store.stored_headlines().row(0, named=True)
    done = accept(store, head["id"], today=date(2025, 7, 10))
    assert done.event["date"] == date(2025, 7, 11)
    assert store.frame("events").height == 1


# -- 5. scale --------------------------------------------------------------------------------------------------------
def test_a_headlines_file_over_the_bound_is_refused_in_one_line(db_path: Path, tmp_path: Path, invoke) -> None:
    rows = "".join(f"Headline {i},2025-01-01,MP,,\n" for i in range(MAX_FILE_ROWS + 1))
    path = write_headlines(tmp_path, HEADER + rows)
    _one_line_error(invoke("events", "import-headlines", str(path)), "50,001 rows, more than the 50,000")
    with Store(db_path) as store:
        assert store.stored_headlines().height == 0


def test_limit_lists_the_newest_and_says_how_many_there_are(inbox_db: Path, invoke) -> None:
    result = invoke("events", "inbox", "--format", "json", "--limit", "2")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["headline"].split()[0] for r in rows] == ["Lynas", "MP"]
    assert "the newest 2 of 4 shown" in result.stderr
    assert "newest" not in invoke("events", "inbox", "--limit", "4").stderr


def test_the_model_reads_only_the_listed_headlines(inbox_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = CatalystModel.bundled()
    seen: list[int] = []
    real = model.suggest
    monkeypatch.setattr(model, "suggest", lambda texts: seen.append(len(texts)) or real(texts))
    with Store(inbox_db) as store:
        assert candidates(store, model=model, limit=3).height == 3
    assert seen == [3]


def test_evidence_is_computed_for_the_whole_batch_at_once() -> None:
    model = CatalystModel.bundled()
    words = model.kind.named_steps["features"].transformer_list[0][1]
    calls: list[int] = []
    real = words.transform

    def counted(texts: list[str]) -> object:
        calls.append(len(texts))
        return real(texts)

    words.transform = counted
    texts = [f"Company {i} secures funding for a separation plant" for i in range(40)]
    one_by_one = [model.evidence(t, s.kind) for t, s in zip(texts, model.suggest(texts), strict=True)]
    calls.clear()
    batch = model.suggest(texts)
    assert len(calls) <= 2, f"the word vectoriser ran {len(calls)} times for 40 headlines"
    assert [s.evidence for s in batch] == [", ".join(e) for e in one_by_one]


def _reference_match(headline: str, universe: pl.DataFrame) -> str | None:
    """Every alias of every company tried on the headline: the rule the matcher must agree with."""
    names = [(s, n) for s, n in universe.select("symbol", "name").iter_rows() if n and n.split()]
    first_words: dict[str, int] = {}
    for _, name in names:
        word = name.split()[0].strip(",.").lower()
        first_words[word] = first_words.get(word, 0) + 1
    best = None
    for symbol, name in names:
        for alias in aliases(name, first_words):
            if re.search(rf"(?<!\w){re.escape(alias)}(?!\w)", headline, flags=re.IGNORECASE):
                key = (-len(alias), symbol)
                best = key if best is None or key < best else best
    return best[1] if best else None


_UNIVERSE = pl.DataFrame(
    [
        *((s, n) for s, n, *_ in UNIVERSE),
        ("ARU.AX", "Arafura Rare Earths Ltd"),
        ("ARR", "American Rare Earths Limited"),
        ("REEMF", "Rare Element Resources Ltd."),
        ("ILU.AX", "Iluka Resources Limited"),
        ("ILU2", "Iluka Resources Limited"),
        ("6301.T", "Komatsu Ltd."),
        ("X1", "Solvay SA"),
    ],
    schema=["symbol", "name"],
    orient="row",
)
_WORDS = [
    "Lynas", "lynas", "MP", "Materials", "Rare", "Earths", "Arafura", "American", "Element", "Ford", "neo",
    "Komatsu", "Corp.", "plant", "halts", "-", ",", "(", "Ltd", "MP Materials", "Iluka Resources", "Solvay SA",
    "Rare Element Resources",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=8), st.sampled_from([" ", "", "'s ", ", "]))
def test_the_prepared_matcher_agrees_with_trying_every_name(words: list[str], sep: str) -> None:
    headline = sep.join(words)
    assert CompanyMatcher(_UNIVERSE).match(headline) == _reference_match(headline, _UNIVERSE)


# -- 6. a field edited twice -----------------------------------------------------------------------------------------
def test_a_field_edited_twice_is_refused(inbox_db: Path, invoke) -> None:
    with pytest.raises(ScreenerError, match="kind: given twice"):
        parse_edits(["kind=funding", "stage=funded", "kind=capacity"])
    mp = by_start(inbox_rows(invoke), "MP Materials")
    result = invoke("events", "accept", mp["id"], "--edit", "symbol=MP", "--edit", "symbol=F")
    _one_line_error(result, "--edit symbol: given twice ('MP' and 'F'); give each field once")
    assert _events(inbox_db).height == 0


# -- 8. cross-validation grouped by company --------------------------------------------------------------------------
def test_cross_validation_keeps_a_companys_rows_in_one_fold() -> None:
    # each company's rows share a name only it uses, and the label follows the company: a model that memorises the
    # name scores perfectly when a company's rows are split across folds, and no better than chance when not
    rows = []
    for company in range(12):
        label = "negative" if company % 2 else "positive"
        for n in range(4):
            rows.append((f"Qz{company}x{'y' * company} update {n}", label, label, label, f"company-{company}"))
    frame = pl.DataFrame(rows, schema=["text", "kind", "stage", "polarity", "group"], orient="row")
    grouped = cross_validated(frame, folds=4)
    split = cross_validated(frame.drop("group"), folds=4)
    f1 = lambda scores: scores.filter(pl.col("label") == "macro")["f1"].max()  # noqa: E731
    assert f1(split) == pytest.approx(1.0)
    assert f1(grouped) < 0.8
