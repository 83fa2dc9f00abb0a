"""Keyword arguments: a misspelt one gets "did you mean", wherever it is caught.

``zoo.load(name, out_indice=2)`` must not reach the builder as an override that happens
to be rejected (or, worse, swallowed by a ``**kwargs``): it is checked first against the
keywords of the call itself. A keyword a builder rejects gets the closest of the
builder's own parameter names.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from zoo.errors import ArgumentError

#: How close a builder override must be to a keyword of the call to be taken for a typo of it.
#: Tight on purpose: ``pretrained_cfg`` (a timm argument) is not a typo of ``pretrained``.
CUTOFF = 0.85

_UNEXPECTED = re.compile(r"unexpected keyword argument '([^']+)'")


def check_overrides(overrides: Mapping[str, Any], keywords: Iterable[str], where: str) -> None:
    """Refuse an override that is a misspelt keyword of the call.

    Raises:
        ArgumentError: With the keyword meant (also a ``TypeError``, as Python's own is).
    """
    known = list(keywords)
    for key in overrides:
        if key in known:
            continue
        close = [k for k in known if _typo_of(key, k)]
        close = close or difflib.get_close_matches(key, known, n=1, cutoff=CUTOFF)
        if close:
            raise ArgumentError(
                f"{where}: unexpected keyword argument {key!r}; did you mean {close[0]!r}?"
            )


def _typo_of(typed: str, keyword: str) -> bool:
    """One slip (two in a keyword longer than six letters): a letter missing, added, changed or
    two letters swapped (the optimal-string-alignment distance)."""
    if abs(len(typed) - len(keyword)) > 2:
        return False
    rows = [list(range(len(keyword) + 1))]
    for i, a in enumerate(typed, 1):
        row = [i]
        for j, b in enumerate(keyword, 1):
            cost = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (a != b))
            if i > 1 and j > 1 and a == keyword[j - 2] and typed[i - 2] == b:
                cost = min(cost, rows[-2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1] <= (1 if len(keyword) <= 6 else 2)


def parameters(fn: Callable[..., Any]) -> list[str]:
    """The keyword parameter names of a callable (a class: of its ``__init__``); [] when unknown."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def did_you_mean(exc: TypeError, candidates: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for Python's "unexpected keyword argument 'y'", or ``""``."""
    found = _UNEXPECTED.search(str(exc))
    if found is None:
        return ""
    close = difflib.get_close_matches(found[1], list(candidates), n=1, cutoff=0.7)
    return f" Did you mean {close[0]!r}?" if close else ""
