"""Weights: not here, not fetched, not what they claim, or not where they may be."""

from __future__ import annotations

from collections.abc import Sequence

from zoo.errors._base import ZooError


class WeightsNotAvailableError(ZooError, FileNotFoundError):
    """The weights are neither on disk nor reachable.

    Attributes:
        what: The file or repository that is missing.
        looked: Where zoo looked for it.
        fix: How to fetch it.
        absent: True when the file is not there (another name may be tried); False when
            access was refused (a gated repository).
    """

    def __init__(
        self, what: str, looked: Sequence[str], fix: str, reason: str = "", *, absent: bool = True
    ) -> None:
        self.what, self.looked, self.fix, self.reason = what, list(looked), fix, reason
        #: The file is simply not there (as opposed to access being refused).
        self.absent = absent
        why = f" ({reason})" if reason else ""
        where = "; ".join(self.looked) if self.looked else "nowhere"
        super().__init__(f"weights not available: {what}{why}. Looked in: {where}. {fix}")


class DownloadError(ZooError, OSError):
    """A download or a request to a weights host failed (bad status, cut-off transfer, no answer).

    Attributes:
        url: The URL asked for.
        endpoint: ``scheme://host[:port]`` of that URL, for messages.
        reason: What went wrong, without the advice.
        status: The HTTP status, when the server answered with one.
        fix: How to get the weights another way (set by the weights layer, which knows the checkpoint).
    """

    def __init__(
        self, reason: str, *, url: str = "", status: int | None = None, fix: str = ""
    ) -> None:
        self.url, self.reason, self.status, self.fix = url, reason, status, fix
        self.endpoint = _endpoint(url)
        super().__init__(" ".join(part for part in (reason, fix) if part))

    def with_fix(self, where: str, fix: str) -> DownloadError:
        """The same error, its message starting with ``where`` and ending with ``fix``."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.fix = fix
        reason = f"{self.reason}." if self.reason and not self.reason.endswith(".") else self.reason
        Exception.__init__(copy, " ".join(part for part in (f"{where}:", reason, fix) if part))
        return copy


class EndpointTimeoutError(DownloadError, TimeoutError):
    """A weights host did not answer (or stopped sending) within zoo's deadline.

    Attributes:
        timeout: The deadline in seconds.
        variable: The environment variable that sets it.
    """

    def __init__(self, reason: str, *, url: str, timeout: float, variable: str) -> None:
        self.timeout, self.variable = timeout, variable
        super().__init__(reason, url=url)


def _endpoint(url: str) -> str:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


class IntegrityError(ZooError, OSError):
    """A file's sha256 (or the md5 a publisher states) differs from the one expected.

    Attributes:
        path: The file.
        expected, actual: The hash that was expected, and the file's (``algorithm``: sha256, md5).
        removed: Whether zoo removed the file (only ever a damaged file of its own cache).
        declared_by: Who expects ``expected`` (e.g. ``pathology/a (catalog/pathology/a.yaml)``).
        vouched_by: Who vouches for ``actual`` (manifest, download record, Hub blob): kept.
    """

    def __init__(
        self,
        path: str,
        expected: str,
        actual: str,
        *,
        removed: bool,
        fix: str = "",
        declared_by: str = "",
        vouched_by: Sequence[str] = (),
        algorithm: str = "sha256",
    ) -> None:
        self.path, self.expected, self.actual, self.removed = path, expected, actual, removed
        self.declared_by, self.vouched_by = declared_by, list(vouched_by)
        self.algorithm = algorithm
        said = f" (declared by {declared_by})" if declared_by else ""
        vouched = f" (vouched for by {'; '.join(self.vouched_by)})" if self.vouched_by else ""
        tail = " The file was removed; fetch it again." if removed else ""
        if self.vouched_by and not removed:
            tail += " The file was kept."
        if fix:
            tail += f" {fix}"
        super().__init__(
            f"{algorithm} mismatch for {path}: expected {expected}{said}, got {actual}{vouched}.{tail}"
        )


class MirrorError(ZooError, ValueError):
    """A mirror folder has no usable ``zoo.lock`` (missing, unreadable or malformed)."""


class PathEscapeError(ZooError, PermissionError):
    """A path built from a manifest, a lock, a server's answer or a listing would leave its folder."""
