"""``screener rules``: list the rule sets, check a rule file, explain a rule set's plan in words."""

from __future__ import annotations

import click

from screener.cli.options import format_option, note
from screener.render import render


@click.group()
def rules() -> None:
    """List, check and explain rule sets (TOML files; the bundled ones ship with the product)."""


@rules.command("list")
@format_option
def list_(fmt: str) -> None:
    """List the rule sets reachable by name: bundled ones and your own in the user rules folder."""
    from rules.catalog import catalog
    from rules.ruleset import user_rules_dir

    df = catalog()
    render(df, fmt)
    note(f"{df.height} rule sets; add your own as NAME.toml in {user_rules_dir()} or pass --rules PATH")


@rules.command("check")
@click.argument("path")
@format_option
def check(path: str, fmt: str) -> None:
    """Validate the rule file PATH (or a rule set name): one line naming the file and key on the first problem."""
    from rules.catalog import summary
    from rules.ruleset import load

    rs = load(path)
    render(summary(rs), fmt)
    note(f"{rs.source}: ok")


@rules.command("explain")
@click.argument("ref", required=False, default="default", metavar="[NAME|PATH]")
@format_option
def explain(ref: str, fmt: str) -> None:
    """Print the compiled plan of a rule set in words: filters, gates, weights, tilts, buffer, constraints."""
    from rules.explain import plan_frame
    from rules.ruleset import load

    render(plan_frame(load(ref)), fmt)
