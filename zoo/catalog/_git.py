"""The few git queries `zoo validate --changed` needs, through the ``git`` executable."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zoo.errors import GitError

#: Tried in order when no base is given: the remote's default branch, then the usual names.
DEFAULT_BASES = ("origin/HEAD", "origin/main", "origin/master", "main", "master")


def _git(args: Sequence[str], cwd: Path) -> str:
    exe = shutil.which("git")
    if exe is None:
        raise GitError("git is not installed (or not on PATH); --changed needs it")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            [exe, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            check=False,
        )
    except OSError as exc:
        raise GitError(f"cannot run git in {cwd}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise GitError(proc.stderr.strip() or f"git {' '.join(args)} failed")
    return proc.stdout


def toplevel(cwd: Path) -> Path:
    """The root of the work tree that contains ``cwd``.

    Raises:
        GitError: ``cwd`` is not inside a git work tree.
    """
    try:
        return Path(_git(["rev-parse", "--show-toplevel"], cwd).strip())
    except GitError as exc:
        raise GitError(
            f"{cwd} is not inside a git repository ({exc}); --changed compares against a git ref. "
            "Run it from your clone, or validate files by path instead."
        ) from None


def _commit(ref: str, cwd: Path) -> str | None:
    try:
        return _git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], cwd
        ).strip()
    except GitError:
        return None


def resolve_base(ref: str | None, cwd: Path) -> tuple[str, str]:
    """The base to compare against: ``(ref as named, commit sha)``.

    Without ``ref``: the first of :data:`DEFAULT_BASES` that exists.

    Raises:
        GitError: The ref names no commit (or no default base exists).
    """
    if ref is not None:
        sha = _commit(ref, cwd)
        if sha is None:
            raise GitError(
                f"unknown git ref {ref!r}: no such branch, tag or commit here. "
                f"Fetch it first (git fetch origin {ref.removeprefix('origin/')}) or pass another --base."
            )
        return ref, sha
    for candidate in DEFAULT_BASES:
        sha = _commit(candidate, cwd)
        if sha is not None:
            return candidate, sha
    raise GitError(
        f"no base to compare against: none of {', '.join(DEFAULT_BASES)} exists. "
        "Pass one with --base REF."
    )


@dataclass
class Changes:
    """Files changed since a base commit, as absolute paths."""

    base: str
    """The ref compared against, as named."""
    changed: list[Path] = field(default_factory=list)
    """Added, modified, renamed (new path) or untracked files, sorted."""
    deleted: list[Path] = field(default_factory=list)
    """Files that no longer exist (deleted, or the old path of a rename)."""


def changes_since(ref: str | None, cwd: Path) -> Changes:
    """Files changed between the merge base of ``ref`` and ``HEAD``, and the work tree.

    Counts commits on this branch, uncommitted edits (staged or not) and
    untracked files that are not ignored; what changed on ``ref`` after this
    branch forked from it does not count.

    Raises:
        GitError: Not a git repository, or an unknown ref.
    """
    top = toplevel(cwd)
    name, sha = resolve_base(ref, top)
    try:
        base = _git(["merge-base", sha, "HEAD"], top).strip()
    except GitError:
        base = sha  # unrelated histories (or no HEAD yet): compare with the ref itself
    out = _git(["diff", "--name-status", "-z", "-M", "--no-ext-diff", base, "--"], top)
    changes = Changes(base=name)
    fields = out.split("\0")
    i = 0
    while i < len(fields) - 1:
        status = fields[i]
        if status[:1] in ("R", "C"):
            old, new = fields[i + 1], fields[i + 2]
            if status[:1] == "R":
                changes.deleted.append(top / old)
            changes.changed.append(top / new)
            i += 3
            continue
        path = top / fields[i + 1]
        (changes.deleted if status[:1] == "D" else changes.changed).append(path)
        i += 2
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z"], top)
    changes.changed.extend(top / p for p in untracked.split("\0") if p)
    changes.changed = sorted(set(changes.changed))
    changes.deleted = sorted(set(changes.deleted))
    return changes
