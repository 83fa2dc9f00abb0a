"""Running commands: usage, output folders, embeddings, interrupted runs, lookups."""

from __future__ import annotations

from collections.abc import Sequence

from zoo.errors._base import ModelNotFoundError, ZooError


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
    """``zoo embed`` was interrupted (Ctrl-C, or SIGTERM as batch schedulers send); what was
    done is saved and a re-run resumes.

    Attributes:
        folder: The output folder.
        done: Images done (embedded or skipped) so far, over all sessions.
        total: Images of the run.
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
