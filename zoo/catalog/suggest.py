"""Ranking names close to a misspelt one: the "did you mean" of every lookup.

difflib's ratio alone ranks ``convit_small`` and ``vit_small_patch16_224`` oddly for
``vit_smal_patch16_224`` once thousands of timm names compete, and it ignores that people
get the start of a name and its parts right more often than the rest. The score here is
difflib's ratio, plus a bonus for the share of what was typed that the candidate starts
with, plus one for the typed name's parts (``vit``, ``small``, ``patch16``...) found whole
in the candidate, plus a larger one when the candidate starts with everything typed (an
unfinished name). Names are compared whole and by the part after the group
(``pathology/``, ``timm/``), whichever is closer, without regard to case.

Only the first :data:`MAX_COMPARED` characters of a name (and of what was typed) are compared:
difflib's ratio costs up to the product of the two lengths, so a catalogue of long, repetitive
aliases would otherwise make every misspelt lookup slow. With the cap, a lookup costs a bounded
amount per name, whatever the names hold: O(catalogue); and the full ratio is computed for
the few names whose cheap bound can still place them (:func:`rank`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_SPLIT = re.compile(r"[/_.\-]+")

#: Bonuses added to difflib's ratio (0..1).
PREFIX_WEIGHT = 0.15
TOKEN_WEIGHT = 0.1
STARTS_WEIGHT = 0.5
#: An unfinished name must be at least this long to count as the start of another.
MIN_START = 3
#: Characters of a name that take part in the comparison (real names are shorter).
MAX_COMPARED = 64
#: Candidates whose full ratio is computed at most, however many come close.
MAX_EXACT = 100


def _tokens(text: str) -> list[str]:
    return [t for t in _SPLIT.split(text) if t]


def _tail(text: str) -> str:
    return text.rsplit("/", 1)[-1]


def _shared_start(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _bonus(typed: str, candidate: str) -> float:
    prefix = _shared_start(typed, candidate) / max(len(typed), 1)
    wanted, have = _tokens(typed), set(_tokens(candidate))
    tokens = sum(t in have for t in wanted) / len(wanted) if wanted else 0.0
    starts = len(typed) >= MIN_START and candidate.startswith(typed)
    return PREFIX_WEIGHT * prefix + TOKEN_WEIGHT * tokens + STARTS_WEIGHT * starts


def score(query: str, candidate: str) -> float:
    """How close ``candidate`` is to ``query`` (higher is closer), case-insensitive."""
    q, c = query.lower()[:MAX_COMPARED], candidate.lower()[:MAX_COMPARED]
    return max(
        difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() + _bonus(a, b)
        for a, b in ((q, c), (_tail(q), _tail(c)))
    )


def rank(query: str, candidates: Iterable[str], limit: int = 3, cutoff: float = 0.6) -> list[str]:
    """The ``limit`` candidates closest to ``query``, closest first.

    A candidate is considered when difflib's ratio reaches ``cutoff`` (whole or after the
    group) or when it starts with what was typed, so unrelated names are never suggested;
    ties put the shorter name first, then the alphabetical order.

    The full ratio (the costly part) is computed best bound first, and only while a candidate's
    bound (difflib's cheap ``quick_ratio`` plus its bonus) is above the ``limit``-th
    score found, and for :data:`MAX_EXACT` candidates at most.
    """
    q = query.lower()[:MAX_COMPARED]
    forms = [(q, difflib.SequenceMatcher(autojunk=False))]
    if _tail(q) != q:
        forms.append((_tail(q), difflib.SequenceMatcher(autojunk=False)))
    for typed, matcher in forms:
        matcher.set_seq2(typed)  # difflib caches what it learns about the second sequence
    bounded: list[tuple[float, int, str, list[tuple[int, str, bool, float]]]] = []
    for candidate in set(candidates):
        c = candidate.lower()[:MAX_COMPARED]
        upper, pending = -1.0, []
        for index, (typed, matcher) in enumerate(forms):
            other = c if typed == q else _tail(c)
            starts = len(typed) >= MIN_START and other.startswith(typed)
            matcher.set_seq1(other)
            if starts or matcher.real_quick_ratio() >= cutoff:
                quick = matcher.quick_ratio()
                if starts or quick >= cutoff:
                    bonus = _bonus(typed, other)
                    pending.append((index, other, starts, bonus))
                    upper = max(upper, quick + bonus)
        if pending:
            bounded.append((-upper, len(candidate), candidate, pending))
    bounded.sort()
    scored: list[tuple[float, int, str]] = []
    for evaluated, (negative_upper, size, candidate, pending) in enumerate(bounded):
        if evaluated >= MAX_EXACT or (len(scored) >= limit and -negative_upper <= -scored[-1][0]):
            break
        best = None
        for index, other, starts, bonus in pending:
            matcher = forms[index][1]
            matcher.set_seq1(other)
            ratio = matcher.ratio()
            if starts or ratio >= cutoff:
                best = ratio + bonus if best is None else max(best, ratio + bonus)
        if best is not None:
            scored.append((-best, size, candidate))
            scored.sort()
            del scored[limit:]
    return [name for _, _, name in scored]
