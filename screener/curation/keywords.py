"""The keyword baseline: a role is predicted when a description holds any of its words.

Why keep a baseline: a classifier's figures mean little alone; ``universe suggest --evaluate`` prints this rule set's
precision and recall beside the model's, on the same texts, so a user sees what the model adds. The lists are short
and plain on purpose: they are what an analyst would grep for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from screener.contract import ROLES

#: Words (lower case, whole words) that signal each role. Every role of the contract has a list.
ROLE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "miner": ("mine", "mines", "mining", "deposit", "explores", "exploration", "ore"),
    "processor": ("separation", "separates", "separate", "refinery", "refining", "refines", "oxide", "oxides"),
    "magnet_maker": ("magnet", "magnets", "ndfeb", "sintered", "sinters"),
    "recycler": ("recycle", "recycles", "recycling", "recycled", "recovers", "scrap", "swarf", "waste"),
    "chemicals_tolling": ("toll", "tolling", "chemical", "chemicals", "compounds"),
    "equipment_supplier": ("equipment", "furnace", "furnaces", "crushers", "mills", "machinery"),
    "trader_offtaker": ("trading", "trader", "trades", "offtake", "distributor", "distributes"),
    "downstream_user": ("automaker", "vehicles", "cars", "turbines", "defense", "motors", "aircraft", "smartphones"),
}
assert set(ROLE_KEYWORDS) == set(ROLES), "every role needs a keyword list"

_WORD = re.compile(r"[a-z0-9]+")


def keyword_roles(text: str) -> list[str]:
    """The roles whose keywords occur in ``text``, in contract order."""
    words = set(_WORD.findall(text.lower()))
    return [role for role in ROLES if words.intersection(ROLE_KEYWORDS[role])]


def keyword_matrix(texts: Sequence[str]) -> list[list[int]]:
    """One 0/1 row per text, one column per role in contract order: the baseline's predictions."""
    out = []
    for text in texts:
        found = set(keyword_roles(text))
        out.append([int(role in found) for role in ROLES])
    return out
