from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import click

from screener.cli.options import (
    country_option,
    effective_option,
    format_option,
    note,
    role_option,
    source_option,
    store_from,
    view_from,
    view_options,
    wait_option,
)
from screener.contract import STAGES
from screener.output.render import EVERYTHING, View, render

if TYPE_CHECKING:
    from screener.store import Store


@click.group()
def universe() -> None:
    """List the universe, edit supply-chain role tags and review suggested tags."""


@universe.command("list")
@role_option
@country_option
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(STAGES),
    help="Keep companies at this stage; repeat to keep any of several.",
)
@format_option
@view_options
@wait_option
@click.pass_context
def list_(
    ctx: click.Context,
    roles: tuple[str, ...],
    countries: tuple[str, ...],
    stages: tuple[str, ...],
    fmt: str,
    columns: tuple[str, ...],
    wide: bool,
) -> None:
    """List companies with their roles, country, region and stage."""
    from screener.intake.universe import list_universe

    with store_from(ctx, "never") as store:
        df = list_universe(store, roles, countries, stages)
    render(df, fmt, view=view_from(columns, wide))
    note(f"{df.height} {'company' if df.height == 1 else 'companies'}")


@universe.command("tag")
@click.argument("symbol")
@click.option("--add", "add", multiple=True, help="Role to add (repeat).")
@click.option("--remove", "remove", multiple=True, help="Role to remove (repeat).")
@source_option(required=True)
@effective_option
@wait_option
@click.pass_context
def tag_(
    ctx: click.Context,
    symbol: str,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    source: str,
    effective: datetime | None,
) -> None:
    """Add or remove role tags on SYMBOL; every change is kept with its source, time and effective date.

    Example: screener universe tag HOC.L --remove miner --add trader_offtaker --effective 2026-03-31 --source URL
    """
    from screener.errors import ScreenerError
    from screener.intake.universe import tag

    if not add and not remove:
        raise ScreenerError("nothing to change: give --add ROLE and/or --remove ROLE")
    # the lock is taken for the transaction that changes the tags, and for each recomputed score set it stores
    with store_from(ctx, "brief") as store:
        roles, changed = tag(store, symbol, add, remove, source, effective=effective.date() if effective else None)
        days = _rescore(store, effective) if changed else []
    if changed:
        note(f"{symbol.upper()}: roles now {';'.join(roles)}")
        _note_rescored(days)
    else:
        note(f"{symbol.upper()}: nothing changed; roles are {';'.join(roles)}")


def _rescore(store: Store, effective: datetime | None) -> list[date]:
    """Recompute the stored score sets a tag change reaches, with a progress bar; a failure is a warning, since the
    tags are stored and the next 'score' recomputes."""
    from screener.cli.progress import ProgressBar, stderr_is_terminal
    from screener.errors import ScreenerError
    from screener.intake.universe import rescore_after_tags

    try:
        with ProgressBar(stderr_is_terminal(), "recompute scores") as bar:
            return rescore_after_tags(store, effective.date() if effective else None, progress=bar)
    except ScreenerError as exc:
        note(f"Warning: the stored scores were not recomputed ({exc}); the next 'screener score' will")
        return []


def _note_rescored(days: list[date]) -> None:
    from rules.explain import plural

    if days:
        span = days[0].isoformat() + (f" to {days[-1].isoformat()}" if len(days) > 1 else "")
        note(f"recomputed {plural(len(days), 'stored score set')} as of {span}")


#: What a suggestion table shows first; the band's evidence and the model version follow while the width allows
#: (csv and json carry every column).
SUGGEST_VIEW = View(
    compact=("symbol", "role", "probability", "tagged", "confidence", "evidence", "exposure_band"),
    optional=("band_probability", "name", "band_evidence", "model_version"),
    cut=True,
    fit=True,
)


@universe.command("suggest")
@click.argument("symbols", nargs=-1, metavar="[SYMBOL]...")
@click.option(
    "--all-untagged",
    "all_untagged",
    is_flag=True,
    help="Every company, only the roles it is not tagged with yet (what there is to accept).",
)
@click.option(
    "--min-confidence",
    "min_confidence",
    type=float,
    default=0.5,
    show_default=True,
    metavar="P",
    help="Show (and accept) roles whose probability is at least P, 0 to 1.",
)
@click.option(
    "--evaluate",
    is_flag=True,
    help="Print the model's cross-validated precision, recall and F1 per role and macro, beside a keyword baseline.",
)
@click.option(
    "--accept",
    "accept_symbol",
    metavar="SYMBOL",
    default=None,
    help="Add SYMBOL's suggested roles it does not carry yet (needs --source); each is kept in the tag history with "
    "its probability and the model version.",
)
@source_option(required=False)
@effective_option
@format_option
@wait_option
@click.pass_context
def suggest_(
    ctx: click.Context,
    symbols: tuple[str, ...],
    all_untagged: bool,
    min_confidence: float,
    evaluate: bool,
    accept_symbol: str | None,
    source: str | None,
    effective: datetime | None,
    fmt: str,
) -> None:
    """Suggest role tags and an exposure band from each company's business description; nothing changes until
    you accept.

    The text read is the stored Yahoo profile summary and the company's description. Each row gives a role's
    probability, whether the company already carries it, the words that drove it, and "low confidence" when the
    role's cross-validated F1 is below 0.5. Without SYMBOL, every company.

    Examples: screener universe suggest MP LYC.AX; screener universe suggest --all-untagged --format json;
    screener universe suggest --evaluate; screener universe suggest --accept NEWCO --source URL
    """
    from screener.errors import ScreenerError

    if evaluate and (symbols or all_untagged or accept_symbol):
        raise ScreenerError("--evaluate takes no SYMBOL, --all-untagged or --accept")
    if accept_symbol and (symbols or all_untagged):
        raise ScreenerError("--accept SYMBOL takes no other SYMBOL or --all-untagged")
    if accept_symbol and source is None:
        raise ScreenerError("--accept needs --source: say why the tags change (a citation or URL)")
    if not accept_symbol and (source is not None or effective is not None):
        raise ScreenerError("--source and --effective go with --accept")
    from screener.curation.suggest import accept, suggest
    from screener.curation.suggest import evaluate as evaluate_model

    # suggesting and evaluating only read (the learnt model is cached when the store is free); accepting writes,
    # taking the lock for each transaction only (learning the model and recomputing scores take seconds)
    with store_from(ctx, "brief" if accept_symbol else "if_free") as store:
        if evaluate:
            frame, trained = evaluate_model(store)
            render(frame, fmt, view=EVERYTHING)
            note(
                f"classifier: {trained.version}, cross-validated on {trained.examples} labelled texts "
                "(5 folds, each company's texts in one fold); keywords: the keyword rule set on the same texts"
            )
            if trained.band is not None:
                accuracy, baseline, n = trained.band
                note(
                    f"exposure band: cross-validated accuracy {accuracy:.2f} on {n} texts "
                    f"(always the most common band: {baseline:.2f})"
                )
            return
        if accept_symbol:
            done = accept(
                store,
                accept_symbol,
                source,
                min_confidence=min_confidence,
                effective=effective.date() if effective else None,
            )
            days = _rescore(store, effective)
            render(done.frame, fmt, view=EVERYTHING)
            note(f"{accept_symbol.upper()}: roles now {';'.join(done.roles)}")
            _note_rescored(days)
            return
        found = suggest(store, symbols, all_untagged=all_untagged, min_confidence=min_confidence)
    render(found.frame, fmt, view=SUGGEST_VIEW)
    trained = found.model
    how = f"learnt in {trained.seconds:.1f} s" if trained.trained else "cached"
    note(f"model {trained.version} ({how}, {trained.examples} labelled texts); nothing was changed")
    low = sorted({r["role"] for r in found.frame.iter_rows(named=True) if r["confidence"] != "normal"})
    if low:
        note(f"low confidence (cross-validated F1 below 0.5): {', '.join(low)}")
    if found.without_text:
        shown = ", ".join(found.without_text[:10]) + (" ..." if len(found.without_text) > 10 else "")
        note(f"no description to read for {len(found.without_text)} (unknown, not suggested): {shown}")
