"""``screener rules``: list the rule sets, check a rule file, explain a rule set's plan in words."""

from __future__ import annotations

import click

from screener.cli.options import format_option, note
from screener.output.render import render


@click.group()
def rules() -> None:
    """List, check and explain rule sets (TOML files; the bundled ones ship with the product)."""


@rules.command("list")
@format_option
def list_(fmt: str) -> None:
    """List the rule sets reachable by name: bundled ones and your own in the user rules folder.

    NAME is the file name without .toml; RUNS_AS is the name the file declares, under which its runs are stored.
    --rules accepts either.
    """
    from rules.catalog import catalog
    from rules.explain import plural
    from rules.ruleset import user_rules_dir

    df = catalog()
    render(df, fmt)
    note(
        f"{plural(df.height, 'rule set')}; --rules takes the name (or runs_as); add your own as NAME.toml in "
        f"{user_rules_dir()} or pass --rules PATH"
    )


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
    """Print the compiled plan of a rule set in words: filters, gates, weights, tilts, buffer, constraints.

    The table format is plain text wrapped to the terminal, so no step is cut short; csv and json give one row
    per step.
    """
    import shutil

    from rules.explain import plan_frame, plan_lines
    from rules.ruleset import load
    from screener.output.terminal import terminal_safe

    rs = load(ref)
    if fmt == "table":
        width = shutil.get_terminal_size((100, 24)).columns
        click.echo(terminal_safe("\n".join(plan_lines(rs, max(width, 60)))))
    else:
        render(plan_frame(rs), fmt)
