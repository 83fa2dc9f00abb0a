"""Building: trust, loading, the declared-against-built contract."""

from __future__ import annotations

from collections.abc import Sequence

from zoo.errors._base import ZooError


class TrustError(ZooError, PermissionError):
    """Running code from this manifest needs an explicit opt-in.

    Attributes:
        flag: The argument, CLI flag or environment variable that opts in.
    """

    def __init__(self, message: str, flag: str) -> None:
        self.flag = flag
        super().__init__(message)


class LoadError(ZooError, RuntimeError):
    """Building the model or loading its weights failed."""


class CheckpointMismatchError(LoadError):
    """The checkpoint's keys or shapes do not match the architecture; ``fix`` ends the message."""

    FIX = (
        "Fix checkpoint.key or checkpoint.remap in the manifest (or set checkpoint.strict: false)."
    )

    def __init__(
        self,
        source: str,
        missing: Sequence[str],
        unexpected: Sequence[str],
        mismatched: Sequence[str] = (),
        limit: int = 5,
        fix: str = FIX,
    ) -> None:
        self.source, self.fix = source, fix
        self.missing, self.unexpected = list(missing), list(unexpected)
        self.mismatched = list(mismatched)
        parts = []
        for label, keys in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("shape mismatch", self.mismatched),
        ):
            if keys:
                more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
                parts.append(f"{len(keys)} {label}: {', '.join(keys[:limit])}{more}")
        super().__init__(
            f"checkpoint {source} does not match the architecture: " + "; ".join(parts) + f". {fix}"
        )


class ContractError(ZooError, ValueError):
    """The built model disagrees with what its manifest declares.

    ``fields`` maps each manifest field at fault (``output.embedding_dim``) to what is wrong.
    """

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})
