"""The hostile-input corpus for rule files: ``rules check`` on files that carry code, traversal, absurd numbers,
broken encodings and the bounds' edge cases. None may run code, write a file or end in an internal error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rules.ruleset import BUNDLED_DIR
from screener.errors import MAX_LINE
from screener.output.terminal import CONTROL

SENTINEL = "pwned-by-rules"
DEFAULT = (BUNDLED_DIR / "default.toml").read_text(encoding="utf-8")
BASE = 'name = "hostile"\n[weights]\nlocalization_premium = 1\n'

CORPUS: dict[str, bytes] = {
    "code in a gate": (BASE + f"[gates]\ng = \"__import__('os').system('touch {SENTINEL}')\"\n").encode(),
    "SQL in a gate": (BASE + f"[gates]\ng = \"1=1; COPY companies TO '{SENTINEL}'\"\n").encode(),
    "code in the universe filter": (
        b'name = "hostile"\n[universe]\nwhere = "().__class__ is not null"\n[weights]\nlocalization_premium = 1\n'
    ),
    "a name that walks out of the folder": BASE.replace('"hostile"', '"../../etc/passwd"').encode(),
    "a name with escape sequences": BASE.replace('"hostile"', '"\\u001b[2Jx"').encode(),
    "a description with escape sequences": (
        b'name = "hostile"\ndescription = "\\u001b]8;;http://evil\\u0007click"\n[weights]\nlocalization_premium = 1\n'
    ),
    "an infinite weight": b'name = "hostile"\n[weights]\nlocalization_premium = inf\n',
    "a NaN weight": b'name = "hostile"\n[weights]\nlocalization_premium = nan\n',
    "a weight of 1e308": b'name = "hostile"\n[weights]\nlocalization_premium = 1e308\n',
    "a huge integer": b'name = "hostile"\n[weights]\nlocalization_premium = 1\n[constraints]\ntop_n = '
    + b"9" * 18
    + b"\n",
    "a negative top_n": BASE.encode() + b"[constraints]\ntop_n = -1\n",
    "a table where a number goes": b'name = "hostile"\n[weights]\nlocalization_premium = { weight = { x = 1 } }\n',
    "every key unknown": b"".join(f"key{i} = {i}\n".encode() for i in range(1500)),
    "invalid UTF-8": BASE.encode() + b'description = "\xff\xfe"\n',
    "UTF-16": BASE.encode("utf-16"),
    "a byte-order mark": b"\xef\xbb\xbf" + BASE.encode(),
    "NUL bytes": BASE.encode() + b"\x00\x00",
    "binary noise": bytes(range(256)) * 100,
    "empty": b"",
    "unterminated multi-line string": b'name = "hostile"\ndescription = """' + b"x" * 100_000,
    "arrays nested 1,000 deep": b"a = " + b"[" * 1000 + b"]" * 1000,
    "inline tables nested 500 deep": b"a = " + b"{b=" * 500 + b"1" + b"}" * 500,
    "a header 2,000 levels deep": b"[" + b".".join([b"a"] * 2000) + b"]\n",
    "300 kB of comment": b"#" + b"x" * 300_000,
    "50,000 dotted keys": b"".join(f"universe.k{i} = 1\n".encode() for i in range(50_000)),
    "100,000 gates": (BASE + "[gates]\n").encode()
    + b"".join(f'g{i} = "liquidity_pct >= 0"\n'.encode() for i in range(100_000)),
    "a gate of 100 kB": (BASE + f'[gates]\ng = "{"liquidity_pct >= 0 and " * 4000}liquidity_pct >= 0"\n').encode(),
    "a copy of the bundled default": DEFAULT.replace('name = "default"', 'name = "copy"').encode(),
}
#: The files that are valid: their hostile text is only text (shown escaped in a terminal).
ACCEPTED = {"a description with escape sequences", "a copy of the bundled default"}


@pytest.mark.parametrize(("label", "content"), CORPUS.items(), ids=list(CORPUS))
def test_a_hostile_rule_file_is_checked_cleanly(
    invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, label: str, content: bytes
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    path = tmp_path / "hostile.toml"
    path.write_bytes(content)
    monkeypatch.chdir(work)
    start = time.perf_counter()
    result = invoke("rules", "check", str(path))
    assert time.perf_counter() - start < 3
    assert result.exit_code in (0, 1), result.stderr
    assert "Internal error" not in result.stderr and "Traceback" not in result.stderr
    for line in (result.stderr + result.stdout).splitlines():
        assert CONTROL.search(line) is None, line[:120]
    for line in result.stderr.splitlines():
        assert len(line) <= MAX_LINE, line[:120]
    assert list(work.iterdir()) == []
    assert not any(SENTINEL in p.name for p in tmp_path.rglob("*"))
    if label in ACCEPTED:
        assert result.exit_code == 0, result.stderr
    else:
        assert result.exit_code == 1 and result.stderr.startswith("Error: "), result.stderr


@pytest.mark.parametrize("content", [CORPUS["arrays nested 1,000 deep"], CORPUS["binary noise"], CORPUS["UTF-16"]])
def test_a_hostile_file_among_the_users_sets_never_breaks_rules_list(invoke, content: bytes) -> None:
    from rules.ruleset import user_rules_dir

    folder = user_rules_dir()
    folder.mkdir(parents=True)
    (folder / "hostile.toml").write_bytes(content)
    result = invoke("rules", "list", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert "default,default,bundled,ok" in result.stdout
    assert "hostile,,user,invalid: " in result.stdout
