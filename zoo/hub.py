"""Weights resolution and download: local paths, URLs (sha256-verified), the Hugging Face Hub.

No torch here. Every function returns a local path or raises a zoo error that
says what is missing, where zoo looked, and how to get it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from zoo import constants
from zoo.errors import DownloadError, IntegrityError, WeightsNotAvailableError
from zoo.manifest import HfLocation, Manifest

CHUNK = 1 << 20
_SIDECAR = ".zoo-verified.json"


# -- local files ---------------------------------------------------------------------------------


def local_path(manifest: Manifest, path: str) -> Path:
    """Resolve a manifest-relative ``checkpoint.path``.

    A relative path may not leave the manifest's catalogue root (through ``..``
    or a symlink); an absolute path is taken as written.
    """
    given = Path(path).expanduser()
    if given.is_absolute():
        resolved = given
    else:
        if manifest.file is None:
            raise WeightsNotAvailableError(
                path,
                [],
                "Give an absolute checkpoint.path, or load the manifest from its file.",
                reason="a relative path needs the manifest's file",
            )
        base = manifest.file.resolve().parent
        resolved = (base / given).resolve()
        root = base.parent  # <root>/<group>/<name>.yaml
        if not resolved.is_relative_to(root):
            raise WeightsNotAvailableError(
                path,
                [str(resolved)],
                "A relative checkpoint.path must stay inside the manifest's catalogue root; "
                "use an absolute path to point elsewhere.",
                reason="path escapes the catalogue root",
            )
    if not resolved.exists():
        raise WeightsNotAvailableError(
            str(resolved),
            [str(resolved)],
            f"Put the weights at {resolved} or fix checkpoint.path in {manifest.file}.",
        )
    return resolved


# -- hashing -------------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + _SIDECAR)


def verify(path: Path, expected: str, *, remove_bad: bool = False) -> None:
    """Check a file's sha256, cheaply when it was verified before and is unchanged.

    A verified file gets a sidecar recording size, mtime and hash; when both
    still match, the hash is not recomputed. Otherwise it is, and a mismatch
    raises :class:`IntegrityError` (removing the file when ``remove_bad``).
    """
    stat = path.stat()
    record = {"sha256": expected, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    side = _sidecar(path)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(side.read_text()) == record:
            return
    actual = sha256_of(path)
    if actual != expected:
        if remove_bad:
            path.unlink(missing_ok=True)
            side.unlink(missing_ok=True)
        raise IntegrityError(str(path), expected, actual, removed=remove_bad)
    with contextlib.suppress(OSError):
        side.write_text(json.dumps(record))


# -- network -------------------------------------------------------------------------------------


_REACHABLE: dict[tuple[str, int], tuple[float, bool]] = {}
_REACHABLE_TTL = 30.0


def reachable(url: str) -> bool:
    """Whether a TCP connection to the URL's host opens within ``ZOO_CONNECT_TIMEOUT`` seconds.

    The answer is remembered for half a minute, so a load that tries two files
    of one host waits for the network once.
    """
    parts = urllib.parse.urlsplit(url)
    key = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    now = time.monotonic()
    if key in _REACHABLE and now - _REACHABLE[key][0] < _REACHABLE_TTL:
        return _REACHABLE[key][1]
    try:
        with socket.create_connection(key, timeout=constants.connect_timeout()):
            answer = True
    except OSError:
        answer = False
    _REACHABLE[key] = (now, answer)
    return answer


@contextlib.contextmanager
def _file_lock(target: Path) -> Iterator[None]:
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        yield


def _progress(total: int | None, label: str):
    if not sys.stderr.isatty():
        return None
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    progress.start()
    progress.add_task(label, total=total)
    return progress


def download(url: str, dest: Path, *, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically.

    The bytes go to a temporary file in the same folder; only a complete file
    whose size (and sha256, when given) checks out is renamed into place. A
    file lock makes concurrent downloads of the same file wait for each other.
    """
    with _file_lock(dest):
        if dest.exists():  # another process finished it while we waited
            if sha256:
                verify(dest, sha256, remove_bad=True)
            return dest
        fd, tmp_name = tempfile.mkstemp(
            prefix=dest.name + ".", suffix=".incomplete", dir=dest.parent
        )
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            received = 0
            try:
                with (
                    urllib.request.urlopen(
                        url, timeout=max(constants.connect_timeout(), 30)
                    ) as response,
                    os.fdopen(fd, "wb") as fh,
                ):
                    total = int(response.headers.get("Content-Length") or 0) or None
                    bar = _progress(total, dest.name)
                    try:
                        while chunk := response.read(CHUNK):
                            fh.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            if bar is not None:
                                bar.update(bar.task_ids[0], completed=received)
                    finally:
                        if bar is not None:
                            bar.stop()
            except urllib.error.HTTPError as exc:
                raise DownloadError(
                    f"download of {url} failed: HTTP {exc.code} {exc.reason}"
                ) from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise DownloadError(f"download of {url} failed: {reason}") from None
            if total is not None and received != total:
                raise DownloadError(
                    f"download of {url} was cut short: got {received} of {total} bytes"
                )
            actual = digest.hexdigest()
            if sha256 and actual != sha256:
                raise IntegrityError(url, sha256, actual, removed=True)
            tmp.replace(dest)
            if sha256:
                stat = dest.stat()
                _sidecar(dest).write_text(
                    json.dumps(
                        {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
                    )
                )
            return dest
        finally:
            tmp.unlink(missing_ok=True)


def url_cache_path(url: str) -> Path:
    """Where a URL's file is cached: ``<ZOO_HOME>/downloads/<hash of url>/<file name>``."""
    name = Path(urllib.parse.urlsplit(url).path).name or "download"
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return constants.cache_dir() / key / name


def url_file(url: str, *, sha256: str | None = None, name: str = "") -> Path:
    """A URL's file from zoo's cache, downloading it when missing (unless offline)."""
    dest = url_cache_path(url)
    if dest.exists():
        if sha256:
            verify(dest, sha256, remove_bad=not constants.offline())
        return dest
    fix = (
        f"Run `zoo load {name}` once with network access, or download {url} and save it as {dest}."
    )
    if constants.offline():
        raise WeightsNotAvailableError(
            url,
            [str(dest)],
            fix,
            reason="offline mode (ZOO_OFFLINE / HF_HUB_OFFLINE) and not cached",
        )
    if not reachable(url):
        raise WeightsNotAvailableError(
            url, [str(dest)], fix, reason=f"cannot reach {urllib.parse.urlsplit(url).hostname}"
        )
    return download(url, dest, sha256=sha256)


# -- Hugging Face Hub ----------------------------------------------------------------------------


def _hf_fix(loc: HfLocation, name: str) -> str:
    rev = f" --revision {loc.revision}" if loc.revision else ""
    what = f" {loc.filename}" if loc.filename else ""
    return (
        f"Fetch it with network access (`zoo load {name}`, or `hf download {loc.repo}{what}{rev}`), "
        "or copy a Hugging Face cache that has it and point HF_HOME at it."
    )


def hf_path(loc: HfLocation, *, name: str = "", allow_patterns: list[str] | None = None) -> Path:
    """A Hub file (``loc.filename``) or repository snapshot, from the cache or the network.

    The cache is tried first (no network at all for a cached pinned revision).
    Offline, or when the Hub cannot be reached, a miss fails at once with
    :class:`WeightsNotAvailableError` instead of retrying for a minute.
    """
    try:
        import huggingface_hub as hfh
        from huggingface_hub import errors as hf_errors
    except ImportError as exc:  # pragma: no cover - a base dependency
        raise WeightsNotAvailableError(
            loc.repo, [], "pip install huggingface_hub", reason=str(exc)
        ) from None

    target = f"{loc.repo}/{loc.filename}" if loc.filename else loc.repo
    if loc.revision:
        target += f"@{loc.revision}"
    looked = [str(hfh.constants.HF_HUB_CACHE)]

    def fetch(local_only: bool) -> Path:
        if loc.filename:
            return Path(
                hfh.hf_hub_download(
                    loc.repo, loc.filename, revision=loc.revision, local_files_only=local_only
                )
            )
        return Path(
            hfh.snapshot_download(
                loc.repo,
                revision=loc.revision,
                local_files_only=local_only,
                allow_patterns=allow_patterns,
            )
        )

    try:
        return fetch(local_only=True)
    except (hf_errors.LocalEntryNotFoundError, FileNotFoundError, hf_errors.EntryNotFoundError):
        pass
    if constants.offline():
        raise WeightsNotAvailableError(
            target,
            looked,
            _hf_fix(loc, name),
            reason="offline mode (ZOO_OFFLINE / HF_HUB_OFFLINE) and not in the Hugging Face cache",
        )
    endpoint = constants.hf_endpoint()
    if not reachable(endpoint):
        raise WeightsNotAvailableError(
            target,
            looked,
            _hf_fix(loc, name),
            reason=f"cannot reach {endpoint} and not in the Hugging Face cache",
        )
    try:
        return fetch(local_only=False)
    except hf_errors.GatedRepoError:
        raise WeightsNotAvailableError(
            target,
            looked,
            f"Request access on {endpoint}/{loc.repo}, then set HF_TOKEN (or run `hf auth login`).",
            reason="gated repository: access not granted to this token",
        ) from None
    except (
        hf_errors.RepositoryNotFoundError,
        hf_errors.RevisionNotFoundError,
        hf_errors.EntryNotFoundError,
    ) as exc:
        raise WeightsNotAvailableError(
            target, looked, "Check checkpoint.hf in the manifest.", reason=type(exc).__name__
        ) from None
    except (hf_errors.HfHubHTTPError, OSError) as exc:
        raise DownloadError(f"download of {target} failed: {exc}") from None


def resolve(manifest: Manifest, *, allow_patterns: list[str] | None = None) -> Path:
    """The local file or folder of a manifest's ``path``, ``url`` or ``hf`` checkpoint.

    ``timm`` tags are resolved by the timm loader, which knows timm's registry.
    A declared sha256 is verified (zoo's own cache drops a bad file; a user's
    file or the Hugging Face cache is left alone and the load refused).
    """
    ckpt = manifest.checkpoint
    if ckpt is None or ckpt.timm is not None:
        raise ValueError(f"{manifest.name}: no path/url/hf checkpoint to resolve")
    if ckpt.url is not None:
        return url_file(ckpt.url, sha256=ckpt.sha256, name=manifest.name)
    if ckpt.hf is not None:
        found = hf_path(ckpt.hf, name=manifest.name, allow_patterns=allow_patterns)
    else:
        found = local_path(manifest, ckpt.path or "")
    if ckpt.sha256 and found.is_file():
        verify(found, ckpt.sha256)
    return found
