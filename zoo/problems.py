"""A finding about a manifest file (a leaf: ``ManifestError`` and validation reports carry them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One finding about a manifest file.

    Attributes:
        file: The manifest's path as given (or ``<string>``).
        path: Dotted field path inside the manifest (``wrapper.timm.architecture``), or ``""``.
        message: What is wrong, ideally with the fix.
        line: 1-based line of the offending key or value, when known.
        column: 1-based column, when known.
        severity: ``error`` blocks; ``warning`` is advice (``--strict`` makes it block).
        code: A short stable identifier of the kind of problem.
    """

    file: str
    path: str
    message: str
    line: int | None = None
    column: int | None = None
    severity: str = "error"
    code: str = field(default="invalid")

    def location(self) -> str:
        """``file:line:column`` with the parts that are known."""
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.location()}: {where}{self.message}"
