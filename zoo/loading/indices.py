"""``out_indices``: parsed and resolved in one place (no torch here).

Accepted forms: ``None`` (the embedding), an int ``n`` (the last n blocks), a
sequence of block indices (negatives count from the end), or a string of any
of these as written on a command line or in an environment variable: ``"2"``,
``"-2,-4"``, ``"[-2, -4]"``, ``"(-2, -4)"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from zoo.errors import OutIndicesError, UsageError

OutIndices = int | tuple[int, ...] | None

_INT = re.compile(r"^[+-]?\d+$")


def parse_out_indices(value: object) -> OutIndices:
    """Normalize an ``out_indices`` value to ``None``, an int, or a tuple of ints.

    Raises:
        UsageError: The value is not one of the accepted forms.
    """
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "none", "null"):
            return None
        bracketed = text[:1] in "[(" and text[-1:] in "])"
        if bracketed:
            if {text[0], text[-1]} not in ({"[", "]"}, {"(", ")"}):
                raise UsageError(f"out_indices {value!r}: unbalanced brackets")
            text = text[1:-1]
        parts = [p.strip() for p in text.split(",")]
        if parts and parts[-1] == "" and bracketed:
            parts.pop()  # "(-2,)"
        if not parts or not all(_INT.match(p) for p in parts):
            raise UsageError(
                f"out_indices {value!r} is not an int or a list of ints; write e.g. 2, -2,-4 or [-2,-4]"
            )
        numbers = tuple(int(p) for p in parts)
        return numbers[0] if len(numbers) == 1 and not bracketed else numbers
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise UsageError(f"out_indices {value!r}: every index must be an int")
        return tuple(value)
    raise UsageError(f"out_indices {value!r} is not an int or a list of ints")


def resolve_out_indices(value: object, levels: int) -> list[int] | None:
    """Absolute block indices, in the order requested, or ``None`` for the embedding.

    Raises:
        OutIndicesError: An index is out of ``[-levels, levels - 1]``, ``n`` is
            not in ``1..levels``, or the model has no feature levels.
    """
    parsed = parse_out_indices(value)
    if parsed is None:
        return None
    if levels <= 0:
        raise OutIndicesError(
            f"out_indices={value!r}: this model declares no feature levels (output.feature_levels is 0)"
        )
    if isinstance(parsed, int):
        if parsed <= 0:
            hint = (
                f"; to select block {parsed} pass a list: out_indices=[{parsed}]"
                if -levels <= parsed
                else ""
            )
            raise OutIndicesError(
                f"out_indices={parsed}: an int n asks for the last n blocks (valid: 1..{levels}){hint}"
            )
        if not 1 <= parsed <= levels:
            raise OutIndicesError(
                f"out_indices={parsed}: asks for the last {parsed} blocks; the model has {levels} (valid: 1..{levels})"
            )
        return list(range(levels - parsed, levels))
    if not parsed:
        raise OutIndicesError("out_indices is empty: give an int or at least one index")
    bad = [i for i in parsed if not -levels <= i < levels]
    if bad:
        raise OutIndicesError(
            f"out_indices {list(parsed)}: {', '.join(map(str, bad))} out of range; the model has "
            f"{levels} feature levels (valid: {-levels}..{levels - 1})"
        )
    blocks = [i % levels for i in parsed]
    seen: dict[int, int] = {}
    for given, block in zip(parsed, blocks, strict=True):
        if block in seen:
            same = f"{seen[block]} and {given} are" if seen[block] != given else f"{given} is"
            raise OutIndicesError(
                f"out_indices {list(parsed)}: {same} the same block ({block} of 0..{levels - 1}); "
                "give each block once"
            )
        seen[block] = given
    return blocks
