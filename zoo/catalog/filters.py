"""Filtering catalogue rows: the one filter behind ``zoo list`` and ``Catalog.list``."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

Row = dict[str, Any]


def select(
    rows: Iterable[Row],
    pattern: str | None = None,
    *,
    group: str | None = None,
    wrapper: str | None = None,
    tag: str | None = None,
    commercial: bool | None = None,
    kind: str | None = None,
) -> list[Row]:
    """The summaries matching every filter given, as ``zoo list`` and :meth:`zoo.catalog.reader.Catalog.list` select."""
    return [
        row
        for row in rows
        if (
            pattern is None
            or any(fnmatch.fnmatchcase(n, pattern) for n in (row["name"], *row["aliases"]))
        )
        and (group is None or row["group"] == group)
        and (wrapper is None or row["wrapper"] == wrapper)
        and (tag is None or tag in row["tags"])
        and (commercial is None or row["commercial"] == commercial)
        and (kind is None or row.get("kind", "image") == kind)
    ]
