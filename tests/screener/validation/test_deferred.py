"""The modules great-expectations imports but no check uses are loaded only when something reads them
(``runner._deferring``): the module that imported one gets it on first use, and any later import gets the real one."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from screener.validation.runner import DEFERRED_BY_GX, _Deferred, _deferring


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module ``deferpkg`` and a package ``realpkg`` with a submodule ``sub``, whose imports leave a mark, and a
    module ``deferuser`` that imports them as great-expectations does (``import altair as alt``, ``from scipy
    import stats``)."""
    (tmp_path / "deferpkg.py").write_text("import sys\nsys.deferpkg_loads += 1\nVALUE = 42\n")
    (tmp_path / "realpkg").mkdir()
    (tmp_path / "realpkg" / "__init__.py").write_text("")
    (tmp_path / "realpkg" / "sub.py").write_text("import sys\nsys.deferpkg_loads += 10\nWHAT = 'sub'\n")
    user = "import deferpkg as dp\nfrom realpkg import sub\n\n\ndef read():\n    return dp.VALUE\n"
    (tmp_path / "deferuser.py").write_text(user)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "deferpkg_loads", 0, raising=False)
    yield "deferpkg"
    for name in ("deferpkg", "realpkg", "realpkg.sub", "deferuser"):
        sys.modules.pop(name, None)


def test_a_deferred_module_loads_on_first_read_and_later_imports_get_the_real_one(package: str) -> None:
    with _deferring([package, "realpkg.sub"]):
        import deferuser  # type: ignore[import-not-found]
    assert sys.deferpkg_loads == 0  # type: ignore[attr-defined]
    assert package not in sys.modules and "realpkg.sub" not in sys.modules
    assert "sub" not in vars(sys.modules["realpkg"])  # the package keeps no stand-in either
    assert isinstance(deferuser.dp, _Deferred) and isinstance(deferuser.sub, _Deferred)
    assert deferuser.read() == 42 and deferuser.sub.WHAT == "sub"
    assert sys.deferpkg_loads == 11  # type: ignore[attr-defined]
    import deferpkg  # type: ignore[import-not-found]
    from realpkg import sub  # type: ignore[import-not-found]

    assert not isinstance(deferpkg, _Deferred) and deferpkg.VALUE == 42
    assert not isinstance(sub, _Deferred) and sub.WHAT == "sub"
    assert sys.deferpkg_loads == 11  # type: ignore[attr-defined]


def test_a_module_read_while_deferring_is_loaded_then(package: str) -> None:
    """A stand-in read inside the block (a library that did use it at import) loads the real module at once."""
    with _deferring([package]):
        import deferuser  # type: ignore[import-not-found]

        assert deferuser.read() == 42
        assert not isinstance(sys.modules[package], _Deferred)
    assert sys.deferpkg_loads == 11  # type: ignore[attr-defined]  # deferpkg once, realpkg.sub (not deferred) once
    assert sys.modules[package].VALUE == 42


def test_a_module_already_loaded_is_left_alone(package: str) -> None:
    import deferpkg  # type: ignore[import-not-found]

    with _deferring([package]):
        assert sys.modules[package] is deferpkg
    assert sys.modules[package] is deferpkg and sys.deferpkg_loads == 1  # type: ignore[attr-defined]


def test_the_deferred_modules_still_answer_through_great_expectations() -> None:
    """The KL-divergence expectation's own ``stats`` and ``alt`` work (loaded on first use, if deferred)."""
    from screener.validation.runner import _context

    _context()
    import great_expectations.expectations.core.expect_column_kl_divergence_to_be_less_than as kl

    assert DEFERRED_BY_GX == ("scipy.stats", "altair")
    assert kl.stats.entropy([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert kl.alt.Chart is not None
