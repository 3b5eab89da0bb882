"""``screener import`` stores file by file in one transaction: a file that fails after others were written rolls the
whole import back, every problem of every file is still reported together, and what the user hears comes in the
same order as when every file was read before the first write.

Why these tests: the files are parsed, checked and stored one by one, so that a directory of millions of rows is
never held whole. Each test makes the import write its first files before a later one fails, and checks that those
writes happened (inside the transaction) and left nothing behind.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from screener.intake.imports import ImportRefused, import_paths
from screener.providers.files import ContractError
from screener.store import Store
from tests._foundation_helpers import snapshot, write

TODAY = date(2025, 6, 30)

COMPANIES = (
    "symbol,name,country,currency,roles,segment,stage,gov_backing,description,source\n"
    "AAA,Alpha Magnets,US,USD,magnet_maker,,producer,,Sintered magnets.,https://example.com/a\n"
    "BBB.AX,Beta Rare Earths,AU,AUD,miner,,developer,,Ionic clay.,https://example.com/b\n"
)
PRICES = "symbol,date,close,volume\nAAA,2025-01-02,10.5,1000\nAAA,2025-01-03,10.7,1200\nBBB.AX,2025-01-02,0.8,50\n"


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Each file the import stores, as (kind, rows of its table seen inside the transaction right after the write):
    proof that the files before the failing one were written before the rollback."""
    import screener.intake

    seen: list[tuple[str, int]] = []
    admit = screener.intake.admit

    def recording(store: Store, checked: Any, *args: Any, **kwargs: Any) -> Any:
        done = admit(store, checked, *args, **kwargs)
        seen.append((checked.kind, int(store.scalar(f"SELECT count(*) FROM {checked.kind}"))))
        return done

    monkeypatch.setattr(screener.intake, "admit", recording)
    return seen


def _disk_full_at(kind: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the write of ``kind`` fail as a full disk would; return the kinds whose write was started, in order."""
    import screener.intake
    from screener.errors import ScreenerError

    admit = screener.intake.admit
    started: list[str] = []

    def failing(store: Store, checked: Any, *args: Any, **kwargs: Any) -> Any:
        started.append(checked.kind)
        if checked.kind == kind:
            raise ScreenerError("the disk is full")
        return admit(store, checked, *args, **kwargs)

    monkeypatch.setattr(screener.intake, "admit", failing)
    return started


def _folder(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "in"
    for name, text in files.items():
        write(folder / name.replace("_", "."), text)
    return folder


def test_a_value_refused_in_the_last_file_rolls_back_the_files_written_before_it(
    store: Store, db_path: Path, tmp_path: Path, written: list[tuple[str, int]]
) -> None:
    """The splits file comes last in file order: companies and prices are stored first, inside the transaction,
    then the split dated after tomorrow refuses the import, and nothing of it is left."""
    before = snapshot(db_path)
    folder = _folder(
        tmp_path,
        companies_csv=COMPANIES,
        prices_csv=PRICES,
        splits_csv="symbol,date,ratio\nAAA,2999-01-02,2\n",
    )
    with pytest.raises(ImportRefused) as caught:
        import_paths(store, [folder], today=TODAY)
    assert written == [("companies", 2), ("prices", 3)]
    assert len(caught.value.failures) == 1
    assert caught.value.failures[0].startswith(f"{folder / 'splits.csv'}, row 2, column date: failed ")
    store.close()
    assert snapshot(db_path) == before


def test_every_file_is_still_read_and_reported_once_one_fails(
    store: Store, db_path: Path, tmp_path: Path, written: list[tuple[str, int]]
) -> None:
    """Prices fail validation, so nothing after them is written; the splits file is still read and its cell that
    cannot be parsed is reported together with the prices' failing value, and the companies written first are
    rolled back."""
    before = snapshot(db_path)
    folder = _folder(
        tmp_path,
        companies_csv=COMPANIES,
        prices_csv=PRICES + "AAA,2999-01-06,10.9,1300\n",
        splits_csv="symbol,date,ratio\nAAA,2025-01-02,abc\n",
    )
    with pytest.raises(ContractError) as caught:
        import_paths(store, [folder], today=TODAY)
    assert written == [("companies", 2)]
    details = caught.value.details
    assert len(details) == 2, details
    assert details[0].startswith(f"{folder / 'prices.csv'}, row 5, column date: failed ")
    assert details[1] == f"{folder / 'splits.csv'}, row 2, column ratio: not a number 'abc'"
    store.close()
    assert snapshot(db_path) == before


def test_a_cell_that_cannot_be_read_in_the_last_file_rolls_back_a_quarantined_import(
    store: Store, db_path: Path, tmp_path: Path, written: list[tuple[str, int]]
) -> None:
    """Under ``quarantine`` the passing rows are stored file by file, but a cell that cannot be typed still refuses
    the whole import: the files stored before it are rolled back."""
    before = snapshot(db_path)
    folder = _folder(
        tmp_path,
        companies_csv=COMPANIES,
        prices_csv=PRICES,
        splits_csv="symbol,date,ratio\nAAA,2025-01-02,abc\n",
    )
    with pytest.raises(ContractError) as caught:
        import_paths(store, [folder], today=TODAY, quarantine=True)
    assert written == [("companies", 2), ("prices", 3)]
    assert str(caught.value) == f"{folder / 'splits.csv'}, row 2, column ratio: not a number 'abc'"
    store.close()
    assert snapshot(db_path) == before


def test_the_first_unreadable_file_in_file_order_is_named_although_splits_are_read_first(
    store: Store, tmp_path: Path, written: list[tuple[str, int]]
) -> None:
    """The splits are read before the other files (they explain the prices' jumps), but a file that cannot be
    read at all is named in file order: the companies file, not the splits file that was read first."""
    folder = _folder(
        tmp_path,
        companies_csv="symbol,country\nAAA,US\n",
        splits_csv="symbol,date\nAAA,2025-01-02\n",
    )
    with pytest.raises(Exception) as caught:
        import_paths(store, [folder], today=TODAY)
    assert str(caught.value).startswith(f"{folder / 'companies.csv'}, row 1, column name: missing required column")
    assert written == []


def test_warnings_and_notes_come_in_file_order_and_the_notes_after_the_commit(
    store: Store, tmp_path: Path, written: list[tuple[str, int]]
) -> None:
    """The files' own warnings (unknown columns, passed-over files) in file order, then the text cells with control
    characters, then the symbols outside the universe as each file is stored, and what the writes did (demo rows
    replaced) last: the order of the import that read every file before its first write."""
    store.upsert(
        "prices",
        pl.DataFrame({"symbol": ["AAA"], "date": [date(2024, 12, 31)], "close": [9.0]}),
        "demo",
    )
    companies = COMPANIES.replace("symbol,name,", "symbol,analyst,name,").replace("\nAAA,", "\nAAA,me,")
    companies = companies.replace("\nBBB.AX,", "\nBBB.AX,you,").replace("Alpha Magnets", "Alpha\x1b[31m Magnets")
    folder = _folder(
        tmp_path,
        companies_csv=companies,
        prices_csv="symbol,date,close,note\nAAA,2025-01-02,10.5,x\nZZZ,2025-01-02,3,y\n",
        readme_txt="not a contract file\n",
    )
    notes: list[str] = []
    summary = import_paths(store, [folder], today=TODAY, note=notes.append)
    companies_path, prices_path = folder / "companies.csv", folder / "prices.csv"
    assert notes == [
        f"Warning: {companies_path}: ignoring 1 unknown column(s): analyst",
        "Warning: not imported (the name is not companies, fundamentals, prices, fx, events or splits, or "
        f"the type is not .csv/.parquet/.xlsx): {folder / 'readme.txt'}",
        f"Warning: {prices_path}: ignoring 1 unknown column(s): note",
        f"Warning: 1 text cell(s) hold control characters, first at {companies_path}, row 2, column name; they are "
        "stored as given and shown escaped in tables",
        f"Warning: {prices_path}: 1 symbol(s) not in the universe, e.g. ZZZ; add them with a companies file to score "
        "them",
        f"Note: {prices_path}: replaced 1 synthetic demo row(s) of the same series, so real and demo numbers never mix",
    ]
    assert written == [("companies", 2), ("prices", 2)]
    assert summary.table()["stored"].to_list() == [2, 2]


def test_a_write_that_fails_yields_to_the_problems_of_later_files_and_is_raised_after_the_warnings(
    store: Store, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails (a full disk, the write lock not free) ends the writing and rolls back, but the files are
    read on: a later file's problems are what the user hears, as when every file was read before the first write.
    With no problem anywhere, the write's own error is raised, after the warnings said up to that file."""
    from screener.errors import ScreenerError

    _disk_full_at("prices", monkeypatch)
    before = snapshot(db_path)
    prices = "symbol,date,close,note\nAAA,2025-01-02,10.5,x\nZZZ,2025-01-02,3,y\n"
    folder = _folder(tmp_path, companies_csv=COMPANIES, prices_csv=prices, splits_csv="symbol,date,ratio\nAAA,x,2\n")
    with pytest.raises(ContractError) as unreadable:
        import_paths(store, [folder], today=TODAY)
    assert str(unreadable.value).startswith(f"{folder / 'splits.csv'}, row 2, column date: not a date 'x'")
    write(folder / "splits.csv", "symbol,date,ratio\nAAA,2025-01-02,2\n")
    notes: list[str] = []
    with pytest.raises(ScreenerError) as full:
        import_paths(store, [folder], today=TODAY, note=notes.append)
    assert str(full.value) == "the disk is full"
    prices_path = folder / "prices.csv"
    assert notes == [
        f"Warning: {prices_path}: ignoring 1 unknown column(s): note",
        f"Warning: {prices_path}: 1 symbol(s) not in the universe, e.g. ZZZ; add them with a companies file to score "
        "them",
    ]
    store.close()
    assert snapshot(db_path) == before


@pytest.mark.parametrize(("loaded", "budget"), [(False, None), (False, 1), (True, None)])
def test_the_next_files_are_read_while_great_expectations_loads_and_reports_keep_their_order(
    store: Store,
    db_path: Path,
    tmp_path: Path,
    written: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
    loaded: bool,
    budget: int | None,
) -> None:
    """While the validation library is still loading (``runner.ready`` false) the import reads the next files
    before it checks the current one, so the two overlap, until the files read ahead hold ``HELD_BYTES``
    (with a budget of one byte, the first file read ahead fills it); once it is loaded, files are read one at a
    time. Either way the problems are reported in file order, with every file's, and nothing is left stored."""
    import screener.intake
    import screener.intake.imports as imports
    import screener.validation.runner as runner

    steps: list[str] = []
    read, check = imports.read_file, screener.intake.check

    def reading(path: Any, kind: str, **kwargs: Any) -> Any:
        steps.append(f"read {kind}")
        return read(path, kind, **kwargs)

    def checking(kind: str, *args: Any, **kwargs: Any) -> Any:
        steps.append(f"check {kind}")
        return check(kind, *args, **kwargs)

    monkeypatch.setattr(imports, "read_file", reading)
    monkeypatch.setattr(screener.intake, "check", checking)
    monkeypatch.setattr(runner, "ready", lambda: loaded)
    if budget is not None:
        monkeypatch.setattr(imports, "HELD_BYTES", budget)
    before = snapshot(db_path)
    folder = _folder(
        tmp_path,
        companies_csv=COMPANIES,
        fx_csv="currency,date,usd_per_unit\nAUD,2025-01-02,abc\n",
        prices_csv="symbol,date,close,volume\nAAA,2999-01-02,10.5,1000\n",
    )
    with pytest.raises(ContractError) as caught:
        import_paths(store, [folder], today=TODAY)
    if loaded:
        assert steps[:3] == ["read companies", "check companies", "read fx"]
    elif budget is None:
        assert steps[:4] == ["read companies", "read fx", "read prices", "check companies"]
    else:
        assert steps[:5] == ["read companies", "read fx", "check companies", "read prices", "check fx"]
    assert steps.count("read fx") == 1 and steps.count("read prices") == 1
    details = caught.value.details
    assert details[0] == f"{folder / 'fx.csv'}, row 2, column usd_per_unit: not a number 'abc'"
    assert details[1].startswith(f"{folder / 'prices.csv'}, row 2, column date: failed ")
    assert written == [("companies", 2)]
    store.close()
    assert snapshot(db_path) == before


def test_each_write_runs_on_the_writing_thread_while_the_next_file_is_checked(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file's write runs on one writing thread, in file order, while the importing thread checks the next file:
    the companies' write here waits until the prices' check has started, which only a write that does not hold
    up the importing thread lets happen. The store then holds every file, as one commit."""
    import threading

    import screener.intake

    admit, check = screener.intake.admit, screener.intake.check
    prices_checked = threading.Event()
    writes: list[tuple[str, str, bool]] = []

    def writing(store: Store, checked: Any, *args: Any, **kwargs: Any) -> Any:
        overlapped = checked.kind != "companies" or prices_checked.wait(timeout=30)
        writes.append((checked.kind, threading.current_thread().name, overlapped))
        return admit(store, checked, *args, **kwargs)

    def checking(kind: str, *args: Any, **kwargs: Any) -> Any:
        if kind == "prices":
            prices_checked.set()
        return check(kind, *args, **kwargs)

    monkeypatch.setattr(screener.intake, "admit", writing)
    monkeypatch.setattr(screener.intake, "check", checking)
    summary = import_paths(store, [_folder(tmp_path, companies_csv=COMPANIES, prices_csv=PRICES)], today=TODAY)
    assert writes == [("companies", "import-write", True), ("prices", "import-write", True)]
    assert summary.table().select("kind", "stored").rows() == [("companies", 2), ("prices", 3)]
    assert store.frame("prices").height == 3
    assert not [t for t in threading.enumerate() if t.name == "import-write"]


def test_each_write_hands_back_duckdbs_copies_of_its_blocks_before_the_next_write(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After each file's write, on the writing thread, the store hands back DuckDB's cached copies of the blocks
    written (``Store.release_cache``), inside the import's transaction, which still commits every file."""
    import threading

    import screener.intake

    admit = screener.intake.admit
    steps: list[tuple[str, str, bool]] = []
    release = store.release_cache

    def writing(store: Store, checked: Any, *args: Any, **kwargs: Any) -> Any:
        steps.append((f"write {checked.kind}", threading.current_thread().name, store._in_tx))
        return admit(store, checked, *args, **kwargs)

    def releasing() -> None:
        steps.append(("release", threading.current_thread().name, store._in_tx))
        release()

    monkeypatch.setattr(screener.intake, "admit", writing)
    monkeypatch.setattr(store, "release_cache", releasing)
    import_paths(store, [_folder(tmp_path, companies_csv=COMPANIES, prices_csv=PRICES)], today=TODAY)
    assert steps == [
        ("write companies", "import-write", True),
        ("release", "import-write", True),
        ("write prices", "import-write", True),
        ("release", "import-write", True),
    ]
    assert store.frame("prices").height == 3 and store.frame("companies").height == 2


def _fails_after_the_warnings(store: Store, db_path: Path, tmp_path: Path, message: str) -> None:
    """Import companies and prices (one unknown column, one symbol outside the universe) into a store whose first
    write fails with ``message``: only the unknown column's warning is said (the symbols' is said of files that
    would be written), ``message`` is what is raised, and the store is as before."""
    import re

    from screener.errors import ScreenerError

    before = snapshot(db_path)
    prices = "symbol,date,close,note\nAAA,2025-01-02,10.5,x\nZZZ,2025-01-02,3,y\n"
    folder = _folder(tmp_path, companies_csv=COMPANIES, prices_csv=prices)
    notes: list[str] = []
    with pytest.raises(ScreenerError, match=f"^{re.escape(message)}$"):
        import_paths(store, [folder], today=TODAY, note=notes.append)
    assert notes == [f"Warning: {folder / 'prices.csv'}: ignoring 1 unknown column(s): note"]
    store.close()
    assert snapshot(db_path) == before


def test_a_failed_write_stops_the_writes_after_it_and_their_warnings(
    store: Store, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The companies' write fails while the prices are checked: the prices are not written, the warning about
    their symbols outside the universe (said of a file written after the failure) is not said, the write's
    error is raised after the warnings, and the store is as before."""

    kinds = _disk_full_at("companies", monkeypatch)
    _fails_after_the_warnings(store, db_path, tmp_path, "the disk is full")
    assert kinds == ["companies"]


def test_a_transaction_that_cannot_be_opened_stores_nothing_and_is_raised_after_the_warnings(
    store: Store,
    db_path: Path,
    tmp_path: Path,
    written: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first write cannot open the import's transaction (the write lock not free): no write is started, the
    later files are still read and checked, their warnings are said, but not the one about symbols outside the
    universe (said of files that would be written), and the lock's own error is raised, the store as before."""
    from contextlib import contextmanager

    from screener.errors import ScreenerError

    @contextmanager
    def busy(*, inputs: bool = True) -> Any:
        raise ScreenerError("the store is being written by another process")
        yield store

    monkeypatch.setattr(store, "transaction", busy)
    _fails_after_the_warnings(store, db_path, tmp_path, "the store is being written by another process")
    assert written == []


def test_an_interrupt_while_a_write_runs_waits_for_it_then_rolls_back(
    store: Store, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C on the importing thread (here: during the prices' check) while the companies are being written: the
    write in flight ends first, then everything is rolled back, the interrupt is raised, and no writing thread
    is left behind."""
    import threading

    import screener.intake

    admit, check = screener.intake.admit, screener.intake.check
    interrupted = threading.Event()
    ended: list[str] = []

    def slow(store: Store, checked: Any, *args: Any, **kwargs: Any) -> Any:
        interrupted.wait(timeout=30)
        done = admit(store, checked, *args, **kwargs)
        ended.append(checked.kind)
        return done

    def checking(kind: str, *args: Any, **kwargs: Any) -> Any:
        if kind == "prices":
            interrupted.set()
            raise KeyboardInterrupt
        return check(kind, *args, **kwargs)

    monkeypatch.setattr(screener.intake, "admit", slow)
    monkeypatch.setattr(screener.intake, "check", checking)
    before = snapshot(db_path)
    with pytest.raises(KeyboardInterrupt):
        import_paths(store, [_folder(tmp_path, companies_csv=COMPANIES, prices_csv=PRICES)], today=TODAY)
    assert ended == ["companies"]
    assert not [t for t in threading.enumerate() if t.name == "import-write"]
    assert store.frame("companies").height == 0
    store.close()
    assert snapshot(db_path) == before


@pytest.mark.parametrize("limit", [1, 1 << 40])
def test_a_file_is_read_while_a_write_runs_only_when_the_writes_hold_less_than_the_limit(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """With the writes holding more than ``WRITE_HELD`` (a limit of one byte: any frame) the prices are read only
    once the companies are written, so two large frames and a parser's copies are never held at once; under the
    limit they are read while the companies are written (the write here waits to see the read start)."""
    import threading
    import time

    import screener.intake
    import screener.intake.imports as imports
    import screener.validation.runner as runner

    admit, read = screener.intake.admit, imports.read_file
    prices_read = threading.Event()
    steps: list[str] = []

    def writing(store: Store, checked: Any, *args: Any, **kwargs: Any) -> Any:
        if checked.kind == "companies" and limit == 1:
            time.sleep(0.3)  # time enough for the prices to be read, were the read not held back (a plain sleep:
            # a timed wait on an event that never comes does not end under a faked clock)
        elif checked.kind == "companies":
            prices_read.wait(timeout=30)
        done = admit(store, checked, *args, **kwargs)
        steps.append(f"written {checked.kind}")
        return done

    def reading(path: Any, kind: str, **kwargs: Any) -> Any:
        steps.append(f"read {kind}")
        if kind == "prices":
            prices_read.set()
        return read(path, kind, **kwargs)

    monkeypatch.setattr(screener.intake, "admit", writing)
    monkeypatch.setattr(imports, "read_file", reading)
    monkeypatch.setattr(runner, "ready", lambda: True)  # no reading ahead while great-expectations loads
    monkeypatch.setattr(imports, "WRITE_HELD", limit)
    import_paths(store, [_folder(tmp_path, companies_csv=COMPANIES, prices_csv=PRICES)], today=TODAY)
    if limit == 1:
        assert steps == ["read companies", "written companies", "read prices", "written prices"]
    else:
        assert steps == ["read companies", "read prices", "written companies", "written prices"]


@pytest.mark.parametrize("limit", [1, 1 << 40])
def test_a_file_is_checked_only_once_the_writes_hold_less_than_the_limit(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """The prices are read while the companies are written (``WRITE_HELD`` allows it), but with the writes holding
    more than ``HELD_BYTES`` (one byte: any frame) they are checked only once that write ended, so a check's own
    copies are never made beside a large frame being written; under the limit the check runs while the companies
    are written (the write here waits to see it start)."""
    import threading
    import time

    import screener.intake
    import screener.intake.imports as imports
    import screener.validation.runner as runner

    admit, check = screener.intake.admit, screener.intake.check
    prices_checked = threading.Event()
    steps: list[str] = []

    def writing(store: Store, checked: Any, *args: Any, **kwargs: Any) -> Any:
        if checked.kind == "companies" and limit == 1:
            time.sleep(0.3)  # time enough for the prices to be checked, were the check not held back
        elif checked.kind == "companies":
            prices_checked.wait(timeout=30)
        done = admit(store, checked, *args, **kwargs)
        steps.append(f"written {checked.kind}")
        return done

    def checking(kind: str, *args: Any, **kwargs: Any) -> Any:
        steps.append(f"check {kind}")
        if kind == "prices":
            prices_checked.set()
        return check(kind, *args, **kwargs)

    monkeypatch.setattr(screener.intake, "admit", writing)
    monkeypatch.setattr(screener.intake, "check", checking)
    monkeypatch.setattr(runner, "ready", lambda: True)  # no reading ahead while great-expectations loads
    monkeypatch.setattr(imports, "HELD_BYTES", limit)
    monkeypatch.setattr(imports, "WRITE_HELD", 1 << 40)
    import_paths(store, [_folder(tmp_path, companies_csv=COMPANIES, prices_csv=PRICES)], today=TODAY)
    if limit == 1:
        assert steps == ["check companies", "written companies", "check prices", "written prices"]
    else:
        assert steps == ["check companies", "check prices", "written companies", "written prices"]
