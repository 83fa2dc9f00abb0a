"""Files written into an output folder without following links: zoo never writes through, nor
deletes, a symbolic link it did not create.

A file is written as a temporary sibling opened with ``O_CREAT | O_EXCL | O_NOFOLLOW`` (so
nothing that already exists at that name, a planted link included, is opened) and then
renamed over its name with :func:`os.replace`, which replaces a directory entry and never
writes into a link's target. Before the rename, a link (or anything but a plain file) at the
final name is refused rather than replaced. No torch here: ``zoo site`` uses it too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from zoo.errors import OutputWriteError

#: Flags of a new temporary file: created here, never an existing file or link.
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


class LinkInTheWay(OSError):
    """A symbolic link (or a folder, a device) is where zoo writes a plain file of its own.

    The callers turn it into their own :class:`~zoo.errors.ZooError`, naming their folder.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        super().__init__(
            f"{path} is {what}, not a file zoo wrote; zoo never writes through or deletes it"
        )


def kind_of(path: Path) -> str | None:
    """What is at ``path`` without following a link: ``None`` (nothing), ``"file"``, ``"folder"``,
    ``"a symbolic link"`` or ``"a special file"``."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "a special file"


def check_plain(path: Path) -> None:
    """Nothing, or a plain file, is at ``path``.

    Raises:
        LinkInTheWay: A link, a folder or a special file is there.
    """
    kind = kind_of(path)
    if kind not in (None, "file"):
        raise LinkInTheWay(path, kind if kind != "folder" else "a folder")


def new_temporary(path: Path, tmp: Path | None = None) -> Path:
    """Create an empty temporary file for ``path`` (mode as the umask says) and return its name.

    ``tmp`` names it (a plain file of that name left by an interrupted run of zoo is replaced;
    a link there is refused); without it, a fresh random name next to ``path`` is used.

    Raises:
        LinkInTheWay: ``tmp`` or ``path`` is a link, a folder or a special file.
    """
    check_plain(path)
    if tmp is None:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    else:
        check_plain(tmp)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()  # a plain file: zoo's own leftover by its name
    try:
        fd = os.open(tmp, _NEW, 0o666)
    except FileExistsError:  # something appeared there meanwhile: never open it
        raise LinkInTheWay(tmp, kind_of(tmp) or "a new entry") from None
    os.close(fd)
    return tmp


def commit(tmp: Path, path: Path) -> None:
    """Rename the written ``tmp`` over ``path`` (removing ``tmp`` if ``path`` is refused).

    Raises:
        LinkInTheWay: ``path`` is a link, a folder or a special file.
    """
    try:
        check_plain(path)
    except LinkInTheWay:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    tmp.replace(path)


def write_file(path: Path, data: bytes, tmp: Path | None = None) -> None:
    """``path`` replaced atomically by ``data`` without following links (see the module)."""
    write_with(path, lambda name: _write_bytes(name, data), tmp)


def write_with(path: Path, write: Callable[[Path], None], tmp: Path | None = None) -> None:
    """``path`` replaced atomically by what ``write`` puts into the temporary file it is given."""
    name = new_temporary(path, tmp)
    try:
        write(name)
    except BaseException:
        with contextlib.suppress(OSError):
            name.unlink()
        raise
    commit(name, path)


def _write_bytes(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "wb") as f:
        f.write(data)


_REASONS = {
    errno.ENOSPC: "the disk is full (no space left on the device); free some space and run the "
    "same command again",
    errno.EDQUOT: "the disk quota is exhausted; free some space and run the same command again",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.EACCES: "permission denied; choose a folder you may write to",
    errno.EPERM: "permission denied; choose a folder you may write to",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EEXIST: "a file is in the way; choose another path",
    errno.ELOOP: "a symbolic link is in the way (zoo does not follow links there)",
}


def write_error(path: Path | str, exc: OSError) -> OutputWriteError:
    """The one-line error for a failed write of ``path`` (the reason and its fix, no traceback)."""
    if isinstance(exc, LinkInTheWay):
        return OutputWriteError(
            str(exc.path),
            f"{exc.what} is there, not a file zoo wrote, and zoo never writes through or deletes "
            "it; remove it or choose another folder",
        )
    where = exc.filename if exc.filename else path
    reason = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return OutputWriteError(str(where), reason)
