"""Every exception zoo raises.

Each class also subclasses the built-in exception a caller would naturally catch
(``LookupError`` for an unknown model, ``FileNotFoundError`` for missing weights,
...), carries structured attributes, and its message ends with the fix where
there is one. The CLI turns any ``ZooError`` into one short message and exit 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo.problems import Problem


class ZooError(Exception):
    """Base class of every error zoo raises on purpose."""


class ManifestError(ZooError, ValueError):
    """A manifest file is unreadable or invalid.

    Attributes:
        problems: Every problem found, each with file, field path and line.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems]
        head = f"{len(lines)} problem(s) in manifest" if len(lines) > 1 else "invalid manifest"
        super().__init__(f"{head}:\n" + "\n".join(f"  {line}" for line in lines))


class DuplicateNameError(ZooError, ValueError):
    """Two manifests (or aliases) claim the same name."""

    def __init__(self, name: str, first: str, second: str) -> None:
        self.name, self.first, self.second = name, first, second
        super().__init__(
            f"model name {name!r} is defined twice: in {first} and in {second}. "
            "Rename one of them or remove it from ZOO_CATALOG_PATH."
        )


class ModelNotFoundError(ZooError, LookupError):
    """No model of that name in the catalogue."""

    def __init__(self, name: str, suggestions: Sequence[str] = (), *, hint: str = "") -> None:
        self.name = name
        self.suggestions = list(suggestions)
        msg = f"no model named {name!r} in the catalogue."
        if hint:
            msg += f" {hint}"
        elif self.suggestions:
            msg += " Did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        else:
            msg += " Run `zoo list` to see the available names."
        super().__init__(msg)


class TagNotFoundError(ModelNotFoundError):
    """timm has the architecture (``arch``) but not the tag (``tag``); ``tags``: those it has with
    weights (``suggestions`` names them), ``closest``: the one most like ``tag``, if any."""

    def __init__(
        self, name: str, arch: str, tag: str, tags: Sequence[str], closest: str | None, hint: str
    ) -> None:
        self.arch, self.tag, self.tags, self.closest = arch, tag, list(tags), closest
        super().__init__(name, [f"timm/{arch}.{t}" for t in self.tags], hint=hint)


class MissingExtraError(ZooError, ImportError):
    """An optional dependency needed for this operation is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package, self.extra = package, extra
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'zoo[{extra}]'"
        )


class MissingPackageError(ZooError, ImportError):
    """A package the manifest ``requires`` (beyond zoo's extras) is missing or too old.

    Attributes:
        model: The model's name.
        requirements: The unmet requirements, as the manifest writes them.
        found: What is installed instead (``name version``), one per requirement installed at all.
        command: The command that installs them.
    """

    def __init__(
        self, model: str, requirements: Sequence[str], found: Sequence[str], command: str
    ) -> None:
        self.model, self.requirements = model, list(requirements)
        self.found, self.command = list(found), command
        have = f" (installed: {', '.join(self.found)})" if self.found else ""
        super().__init__(
            f"{model} needs {', '.join(self.requirements)}{have}, beyond zoo's extras. "
            f"Install with: {command}"
        )


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
        self,
        reason: str,
        *,
        url: str = "",
        status: int | None = None,
        fix: str = "",
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
    """The checkpoint's keys or shapes do not match the architecture."""

    def __init__(
        self,
        source: str,
        missing: Sequence[str],
        unexpected: Sequence[str],
        mismatched: Sequence[str] = (),
        limit: int = 5,
    ) -> None:
        self.source = source
        self.missing, self.unexpected, self.mismatched = (
            list(missing),
            list(unexpected),
            list(mismatched),
        )
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
            f"checkpoint {source} does not match the architecture: "
            + "; ".join(parts)
            + ". Fix checkpoint.key or checkpoint.remap in the manifest "
            "(or set checkpoint.strict: false)."
        )


class ContractError(ZooError, ValueError):
    """The built model disagrees with what its manifest declares.

    ``fields`` maps each manifest field at fault (``output.embedding_dim``) to what is wrong.
    """

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class GitError(ZooError, OSError):
    """A git command needed by zoo failed (not a repository, unknown ref, git missing)."""


class ManifestExistsError(ZooError, FileExistsError):
    """A file would be overwritten."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"{path} already exists. Pick another name, or pass --force to overwrite it."
        )


class SiteOutputError(ZooError, FileExistsError):
    """``zoo site`` would overwrite or delete a file it did not write.

    Attributes:
        path: The folder or file in the way.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")


class UsageError(ZooError, ValueError):
    """An argument to a zoo call is invalid (bad out_indices, unknown override, wrong size)."""


class OutputFolderError(UsageError):
    """``zoo embed``: the output folder holds files zoo did not write, or another run's output.

    Attributes:
        folder: The output folder.
        foreign: Entries zoo did not write (or changed since), first ones first.
        differences: ``(setting, then, now)`` of a run whose output is there.
    """

    def __init__(
        self,
        message: str,
        folder: str,
        foreign: Sequence[str] = (),
        differences: Sequence[tuple[str, object, object]] = (),
    ) -> None:
        self.folder, self.foreign, self.differences = folder, list(foreign), list(differences)
        super().__init__(message)


class EmbeddingsError(ZooError, OSError):
    """A ``zoo embed`` output folder is missing, unfinished or damaged."""


class EmbedInterruptedError(ZooError, KeyboardInterrupt):
    """``zoo embed`` was interrupted (Ctrl-C, or SIGTERM as batch schedulers send); what was done is saved and a re-run resumes.

    Attributes:
        folder, done, total: The output folder; images done (embedded or skipped) over all sessions; all.
        signal: ``SIGINT`` (Ctrl-C) or ``SIGTERM``; the CLI exits with 128 + its number.
    """

    def __init__(self, folder: str, done: int, total: int, signal: str = "SIGINT") -> None:
        self.folder, self.done, self.total, self.signal = folder, done, total, signal
        how = "interrupted" if signal == "SIGINT" else f"stopped by {signal}"
        super().__init__(f"{how}: {done} of {total} images are done and saved in {folder}")


class OutIndicesError(UsageError, IndexError):
    """``out_indices`` selects blocks that do not exist."""


class ArgumentError(UsageError, TypeError):
    """A builder or call rejects its keyword arguments; a ``TypeError`` too, as Python's own."""


class RegistryLookupError(ModelNotFoundError, ValueError):
    """``zoo.compat.eva``: an unknown name, a ``ValueError`` as in eva; ``wording`` is eva's
    sentence for it, then come zoo's suggestions (or ``fallback`` when there are none)."""

    def __init__(
        self, name: str, suggestions: Sequence[str] = (), wording: str = "", fallback: str = ""
    ) -> None:
        super().__init__(name, suggestions)
        if wording:
            close = ", ".join(repr(s) for s in self.suggestions)
            hint = f" Did you mean {close}?" if close else fallback or " Run `zoo list`."
            self.args = (wording + hint,)


__all__ = [
    "ArgumentError",
    "CheckpointMismatchError",
    "ContractError",
    "DownloadError",
    "DuplicateNameError",
    "EmbedInterruptedError",
    "EmbeddingsError",
    "EndpointTimeoutError",
    "GitError",
    "IntegrityError",
    "LoadError",
    "ManifestError",
    "ManifestExistsError",
    "MirrorError",
    "MissingExtraError",
    "MissingPackageError",
    "ModelNotFoundError",
    "OutIndicesError",
    "OutputFolderError",
    "RegistryLookupError",
    "SiteOutputError",
    "TagNotFoundError",
    "TrustError",
    "UsageError",
    "WeightsNotAvailableError",
    "ZooError",
]
