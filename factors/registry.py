"""The factor registry: one decorator turns a small module into a scored, documented factor.

Why a registry and discovery instead of a hand-kept list: adding a factor must touch one module (and its test). The
factors live in their own package, ``factors.library``, which holds nothing else: every module of it is imported
once, in name order, when this module is first imported, and its ``@register_factor`` call adds a ``FactorSpec`` to
``FACTORS``. Helpers (inputs, engine, cross-sectional maths) live beside that folder, so none is ever imported as a
factor. Nothing dispatches on names with ``getattr``:
consumers iterate ``FACTORS`` or call ``get_factor(name)``, which fails with a suggestion on a typo.

A factor is computed in two steps that the engine keeps apart on purpose:

1. ``compute(ctx, params)`` returns the raw components per company (symbol + one column per component), from the
   point-in-time context; a component is null when its inputs are missing. It may also return a ``flags`` column
   (list of strings) of notes the engine appends to the row's flags, e.g. ``short_history:pullback``.
2. The engine applies the factor's missing-value policy to those components (flagging what it filled), then
   ``combine(components, params)`` turns them into the one factor value.

So every factor handles missing data the same way and every filled value is visible in the flags.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

if TYPE_CHECKING:
    from factors.inputs import FactorContext

Direction = Literal["higher_is_better", "higher_is_worse"]
MissingPolicy = Literal["neutral", "worst", "exclude", "impute_peers"]
DIRECTIONS: tuple[str, ...] = ("higher_is_better", "higher_is_worse")
MISSING_POLICIES: tuple[str, ...] = ("neutral", "worst", "exclude", "impute_peers")
#: What a number is, for the places that show it (the workbook's number formats): an amount in USD, a fraction
#: shown as a percent, a whole count. A column a factor does not declare is shown by its name's convention.
NumberKind = Literal["usd", "ratio", "count", "decimal"]
NUMBER_KINDS: tuple[str, ...] = ("usd", "ratio", "count", "decimal")

Params = Mapping[str, Any]
ComputeFn = Callable[["FactorContext", Params], pl.DataFrame]
CombineFn = Callable[[pl.DataFrame, Params], pl.Series]

#: The package whose modules are the factors (and only factors).
LIBRARY = "factors.library"


@dataclass(frozen=True)
class FactorSpec:
    """Everything the engine, the docs and the rules need to know about one factor.

    ``signs`` orients each component: +1 when more of the component raises the factor's raw value, -1 when it
    lowers it. The ``worst`` policy uses it to know which end of a component is the bad one.

    What the rest of the product says about the factor is declared here too, so a factor is one file:
    ``phrases`` are the words a member's reason uses for a high and a low percentile (in the factor's direction),
    ``moved_by`` the event kinds that can move the factor (a change attributed to it cites the latest such event;
    the order breaks ties between events on the same day), ``formats`` what kind of number each column is
    (keyed by the factor's name for its value, by component name for a component; see ``NUMBER_KINDS``).
    """

    name: str
    direction: Direction
    needs: tuple[str, ...]
    missing: MissingPolicy
    params: Mapping[str, Any]
    components: tuple[str, ...]
    description: str
    compute: ComputeFn
    combine: CombineFn
    signs: Mapping[str, int] = field(default_factory=dict)
    thesis: str = ""
    order: int = 100
    module: str = ""
    phrases: tuple[str, str] = ("", "")
    moved_by: tuple[str, ...] = ()
    formats: Mapping[str, NumberKind] = field(default_factory=dict)

    def column(self, component: str) -> str:
        """The score-frame column of a component: ``<factor>.<component>``."""
        return f"{self.name}.{component}"

    @property
    def component_columns(self) -> tuple[str, ...]:
        return tuple(self.column(c) for c in self.components)

    @property
    def pct_column(self) -> str:
        return f"{self.name}_pct"

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher_is_better"

    def column_formats(self) -> dict[str, NumberKind]:
        """The declared number kinds by score-frame column (``F`` for the value, ``F.component`` for components)."""
        return {(self.name if key == self.name else self.column(key)): kind for key, kind in self.formats.items()}


_REGISTERED: dict[str, FactorSpec] = {}
#: name -> spec, ordered by each factor's declared ``order`` then name (stable regardless of import order).
FACTORS: dict[str, FactorSpec] = {}


def _single_component(components: pl.DataFrame, params: Params) -> pl.Series:
    """Default combine for a one-component factor: the value is the component itself."""
    return components.drop("as_of", strict=False).to_series(0).cast(pl.Float64)


def register_factor(
    *,
    name: str,
    direction: Direction,
    needs: tuple[str, ...],
    missing: MissingPolicy,
    params: Mapping[str, Any],
    components: Mapping[str, int],
    description: str,
    combine: CombineFn | None = None,
    thesis: str = "",
    order: int = 100,
    phrases: tuple[str, str] | None = None,
    moved_by: tuple[str, ...] = (),
    formats: Mapping[str, NumberKind] | None = None,
) -> Callable[[ComputeFn], ComputeFn]:
    """Register the decorated ``compute(ctx, params) -> DataFrame`` as factor ``name``.

    ``components`` maps each component name to its sign (+1/-1, see ``FactorSpec.signs``). A factor with more than
    one component must give ``combine``. ``phrases`` defaults to "high <name>" / "low <name>"; ``moved_by`` and
    ``formats`` (see ``FactorSpec``) default to none. Declarations are checked here, at import time, so a malformed
    factor fails the test suite rather than a user's run.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"factor {name}: direction must be one of {DIRECTIONS}, got {direction!r}")
    if missing not in MISSING_POLICIES:
        raise ValueError(f"factor {name}: missing must be one of {MISSING_POLICIES}, got {missing!r}")
    if not components:
        raise ValueError(f"factor {name}: declare at least one component")
    bad = {c: s for c, s in components.items() if s not in (1, -1)}
    if bad:
        raise ValueError(f"factor {name}: component signs must be +1 or -1, got {bad}")
    if combine is None and len(components) > 1:
        raise ValueError(f"factor {name}: several components need a combine function")
    if "." in name or any("." in c for c in components):
        raise ValueError(f"factor {name}: names may not contain '.' (it separates factor and component)")
    words = name.replace("_", " ")
    phrases = tuple(phrases) if phrases is not None else (f"high {words}", f"low {words}")  # type: ignore[assignment]
    if len(phrases) != 2 or not all(isinstance(p, str) and p for p in phrases):
        raise ValueError(f"factor {name}: phrases must be two non-empty texts (high, low), got {phrases!r}")
    from screener.contract import EVENT_KINDS

    unknown_events = [k for k in moved_by if k not in EVENT_KINDS]
    if unknown_events or len(set(moved_by)) != len(moved_by):
        raise ValueError(f"factor {name}: moved_by must name distinct event kinds of {EVENT_KINDS}, got {moved_by}")
    formats = dict(formats or {})
    bad_formats = {k: v for k, v in formats.items() if k not in (name, *components) or v not in NUMBER_KINDS}
    if bad_formats:
        raise ValueError(
            f"factor {name}: formats map the factor or a component to one of {NUMBER_KINDS}, got {bad_formats}"
        )

    def decorate(fn: ComputeFn) -> ComputeFn:
        if name in _REGISTERED and _REGISTERED[name].module != fn.__module__:
            raise ValueError(f"factor {name} is registered twice ({_REGISTERED[name].module}, {fn.__module__})")
        _REGISTERED[name] = FactorSpec(
            name=name,
            direction=direction,
            needs=tuple(needs),
            missing=missing,
            params=MappingProxyType(dict(params)),
            components=tuple(components),
            description=description,
            compute=fn,
            combine=combine or _single_component,
            signs=MappingProxyType(dict(components)),
            thesis=thesis,
            order=order,
            module=fn.__module__,
            phrases=phrases,  # type: ignore[arg-type]
            moved_by=tuple(moved_by),
            formats=MappingProxyType(formats),
        )
        ordered = sorted(_REGISTERED.values(), key=lambda s: (s.order, s.name))
        FACTORS.clear()
        FACTORS.update((s.name, s) for s in ordered)
        return fn

    return decorate


def get_factor(name: str) -> FactorSpec:
    """The spec of factor ``name``; an unknown name raises ``KeyError`` naming the closest factor."""
    try:
        return FACTORS[name]
    except KeyError:
        from difflib import get_close_matches

        hint = get_close_matches(name, list(FACTORS), n=1)
        suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise KeyError(f"unknown factor {name!r}{suffix}; known: {', '.join(FACTORS)}") from None


def factor_modules(package: str = LIBRARY) -> list[str]:
    """Names of the factor modules: every module of the factor package, sorted, so discovery is deterministic."""
    folder = importlib.import_module(package)
    return sorted(m.name for m in pkgutil.iter_modules(folder.__path__) if not m.ispkg)


def discover(package: str = LIBRARY) -> None:
    """Import every module of the factor package; each registers its factor as it is imported."""
    for module in factor_modules(package):
        importlib.import_module(f"{package}.{module}")


discover()
