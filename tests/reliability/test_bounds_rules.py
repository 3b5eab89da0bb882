"""Bounded work on rule files: a hostile or generated file is refused in milliseconds, before it is parsed.

Found in testing: a rule file of 50,000 dotted keys took 52 s to refuse, 100,000 gates took 29 s in ``weekly``, and
a file nested 1,000 deep crashed the TOML parser (``RecursionError``), which also broke ``rules list``."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.ruleset import (
    BUNDLED_DIR,
    MAX_GATES,
    MAX_KEYS,
    MAX_NESTING,
    MAX_RULES_BYTES,
    RuleSetError,
    check_bounds,
    load,
    parse,
)
from tests.builders import ensure_factors, initialised

ensure_factors()

BASE = 'name = "bounded"\n[weights]\nlocalization_premium = 1\n'
#: The budget the issue sets for refusing any of these files.
SECONDS = 2.0

HOSTILE = {
    "array nested 1,000 deep": "a = " + "[" * 1000 + "]" * 1000 + "\n",
    "inline tables nested 1,000 deep": "a = " + "{ b = " * 1000 + "1" + " }" * 1000 + "\n",
    "a dotted key 5,000 parts deep": "a" + ".b" * 5000 + " = 1\n",
    "a table header 5,000 parts deep": "[a" + ".b" * 5000 + "]\n",
    "50,000 dotted keys": BASE + "".join(f"universe.k{i}.x = 1\n" for i in range(50_000)),
    "50,000 short keys": "".join(f"k{i}=1\n" for i in range(50_000)),
    "100,000 gates": BASE + "[gates]\n" + "".join(f'g{i} = "liquidity_pct >= 0"\n' for i in range(100_000)),
    "a megabyte of comment": "#" + "x" * 1_000_000 + "\n" + BASE,
    "an unterminated string of 200 kB": 'name = "' + "x" * 200_000,
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_rule_text_is_refused_quickly(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(RuleSetError) as err:
        parse(text, "hostile.toml")
    assert time.perf_counter() - start < SECONDS
    assert str(err.value).startswith("hostile.toml: ")
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


@pytest.mark.parametrize("text", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_rule_file_is_refused_quickly_through_the_cli(invoke, tmp_path: Path, text: str) -> None:
    path = tmp_path / "hostile.toml"
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    result = invoke("rules", "check", str(path))
    assert time.perf_counter() - start < SECONDS + 1  # the command's own start-up on top
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "Internal error" not in result.stderr


def test_the_bounds_are_named_in_the_message() -> None:
    with pytest.raises(RuleSetError, match=f"at most {MAX_RULES_BYTES:,} bytes"):
        parse("#" + "x" * MAX_RULES_BYTES, "big.toml")
    with pytest.raises(RuleSetError, match=f"nested more than {MAX_NESTING} deep"):
        parse("a = " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1), "deep.toml")
    with pytest.raises(RuleSetError, match=f"more than {MAX_KEYS:,} keys"):
        parse("".join(f"k{i} = 1\n" for i in range(MAX_KEYS + 1)), "keys.toml")
    gates = "[gates]\n" + "".join(f'g{i} = "liquidity_pct >= 0"\n' for i in range(MAX_GATES + 1))
    with pytest.raises(RuleSetError, match=f"gates: {MAX_GATES + 1:,} gates; a rule set has at most {MAX_GATES}"):
        parse(BASE + gates, "gates.toml")


def test_just_inside_the_bounds_is_accepted() -> None:
    gates = "[gates]\n" + "".join(f'g{i} = "liquidity_pct >= 0"\n' for i in range(MAX_GATES))
    assert len(parse(BASE + gates, "ok.toml").gates) == MAX_GATES
    nested = "[tilts]\nenabler_roles = " + "[" * 1 + '"processor"' + "]" * 1 + "\n"
    parse(BASE + nested, "ok.toml")
    check_bounds("a = " + "[" * MAX_NESTING + "]" * MAX_NESTING)


def test_brackets_and_dots_inside_strings_and_comments_do_not_count() -> None:
    text = (
        'name = "strings"\n'
        f'description = """{"[[{{" * 50}\n{"a.b.c." * 50}\n"""\n'
        f"# {'[' * 100}\n"
        "[universe]\n"
        f"where = 'liquidity_pct >= 0.1'  # {'{' * 50}\n"
        "[gates]\n"
        "g = '''liquidity_pct >= 0'''\n"
        "[weights]\nlocalization_premium = 1\n"
    )
    rs = parse(text, "ok.toml")
    assert rs.description.startswith("[[{{")


@pytest.mark.parametrize("path", sorted(BUNDLED_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_every_bundled_rule_set_is_well_inside_the_bounds(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.encode()) < MAX_RULES_BYTES // 10
    check_bounds(text, path.name)
    load(path)


@given(st.integers(min_value=1, max_value=40), st.sampled_from(["array", "inline", "dotted", "header"]))
def test_nesting_is_refused_exactly_past_the_bound(depth: int, kind: str) -> None:
    text = {
        "array": "a = " + "[" * depth + "]" * depth,
        "inline": "a = " + "{ b = " * depth + "1" + " }" * depth,
        "dotted": "a" + ".b" * depth + " = 1",
        "header": "[a" + ".b" * depth + "]",
    }[kind]
    if depth > MAX_NESTING:
        with pytest.raises(RuleSetError, match="nested more than"):
            check_bounds(text)
    else:
        check_bounds(text)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="[]{}=,.\"'#\n abc1", max_size=400))
def test_the_scan_never_crashes_and_parse_only_raises_rule_errors(text: str) -> None:
    with contextlib.suppress(RuleSetError):
        parse(text, "fuzz.toml")


def test_rules_list_still_lists_the_other_sets_next_to_a_deep_file(invoke, tmp_path: Path) -> None:
    from rules.ruleset import user_rules_dir

    folder = user_rules_dir()
    folder.mkdir(parents=True)
    (folder / "deep.toml").write_text("a = " + "[" * 1000 + "]" * 1000 + "\n", encoding="utf-8")
    (folder / "huge.toml").write_text("#" + "x" * (MAX_RULES_BYTES + 1), encoding="utf-8")
    result = invoke("rules", "list", "--format", "json")
    assert result.exit_code == 0, result.stderr
    import json

    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["default"]["status"] == "ok"
    assert rows["deep"]["status"].startswith("invalid: ") and "nested more than" in rows["deep"]["status"]
    assert "at most" in rows["huge"]["status"]
    # a name is still resolved past them (resolve reads every file's declared name)
    assert invoke("rules", "check", "default").exit_code == 0


def test_weekly_refuses_100000_gates_before_scoring(invoke, tmp_path: Path, store_template, db_path: Path) -> None:
    path = tmp_path / "many-gates.toml"
    path.write_text(
        BASE.replace("bounded", "many-gates")
        + "[gates]\n"
        + "".join(f'g{i} = "liquidity_pct >= 0"\n' for i in range(100_000)),
        encoding="utf-8",
    )
    initialised(store_template, db_path)
    start = time.perf_counter()
    result = invoke("weekly", "--rules", str(path))
    assert time.perf_counter() - start < SECONDS + 1
    assert result.exit_code == 1 and "Internal error" not in result.stderr
    assert "at most" in result.stderr
