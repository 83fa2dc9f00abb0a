"""Weights resolution and download: local paths, URLs (sha256-verified), the Hugging Face Hub.

No torch here. Every function returns a local path or raises a zoo error that
says what is missing, where zoo looked, and how to get it. A mirror
(``ZOO_MIRROR`` or :func:`zoo.weights.mirror.use_mirror`) is looked at first and turns
the network off.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from zoo import constants
from zoo.catalogue.roots import manifest_relative
from zoo.errors import (
    DownloadError,
    IntegrityError,
    LoadError,
    WeightsNotAvailableError,
)
from zoo.manifest import HfLocation, Manifest
from zoo.weights import mirror
from zoo.weights._onnx import external_data_locations
from zoo.weights.integrity import CHUNK, state_file, verify, write_record

_BLOB_SHA256 = re.compile(r"[0-9a-f]{64}")


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
        resolved, inside = manifest_relative(manifest.file, given)
        if not inside:
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


def offline() -> bool:
    """No network for zoo: ``ZOO_OFFLINE`` / ``HF_HUB_OFFLINE``, or a mirror in use."""
    return constants.offline() or mirror.active() is not None


def _offline_reason(what: str) -> str:
    active = mirror.active()
    if active is not None:
        return f"not in the mirror {active.root} (a mirror turns the network off) and not {what}"
    return f"offline mode (ZOO_OFFLINE / HF_HUB_OFFLINE) and not {what}"


def _looked(*places: str) -> list[str]:
    active = mirror.active()
    return ([str(active.lock_file)] if active is not None else []) + list(places)


@contextlib.contextmanager
def _file_lock(target: Path) -> Iterator[None]:
    """An inter-process lock for one target file; lock files live in ``<ZOO_HOME>/locks``."""
    from filelock import FileLock

    lock = state_file("locks", str(target.resolve()), ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        yield


def _progress(total: int | None, label: str) -> Any:
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


def _receive(url: str, fd: int) -> tuple[str, int, int | None]:
    """Stream ``url`` into the open file ``fd``; returns (sha256, bytes received, declared size)."""
    digest = hashlib.sha256()
    received = 0
    total: int | None = None
    try:
        with (
            urllib.request.urlopen(url, timeout=constants.download_timeout()) as response,
            os.fdopen(fd, "wb") as fh,
        ):
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress(total, Path(urllib.parse.urlsplit(url).path).name)
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
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except http.client.IncompleteRead as exc:
        got = received + len(exc.partial)
        raise DownloadError(
            f"download of {url} was cut short: the server closed the connection after "
            f"{got} of {total or '?'} bytes; nothing was kept. Try again."
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc or type(exc).__name__
        raise DownloadError(
            f"download of {url} failed after {received} bytes: {reason}; nothing was kept."
        ) from None
    return digest.hexdigest(), received, total


def download(url: str, dest: Path, *, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically.

    The bytes go to a temporary ``*.incomplete`` file in the same folder; only a
    complete file whose size (and sha256, when given) checks out is renamed into
    place, and the hash of what arrived is recorded for later checks. A file
    lock makes concurrent downloads of the same file (threads or processes)
    wait for the first one and then use its file.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(dest):
        if dest.exists():  # another process finished it while we waited
            verify(dest, sha256, remove_bad=True)
            return dest
        fd, tmp_name = tempfile.mkstemp(
            prefix=dest.name + ".", suffix=".incomplete", dir=dest.parent
        )
        tmp = Path(tmp_name)
        try:
            actual, received, total = _receive(url, fd)
            if total is not None and received != total:
                raise DownloadError(
                    f"download of {url} was cut short: got {received} of {total} bytes; "
                    "nothing was kept. Try again."
                )
            if sha256 and actual != sha256:
                raise IntegrityError(url, sha256, actual, removed=True)
            tmp.replace(dest)
            write_record(dest.resolve(), actual)
            return dest
        finally:
            tmp.unlink(missing_ok=True)


def url_cache_path(url: str) -> Path:
    """Where a URL's file is cached: ``<ZOO_HOME>/downloads/<hash of url>/<file name>``."""
    name = Path(urllib.parse.urlsplit(url).path).name or "download"
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return constants.cache_dir() / key / name


def _mirrored(found: mirror.LockEntry, active: mirror.Mirror, expected: str | None) -> Path:
    """A mirror's file, after checking it against the lock (and the manifest's sha256)."""
    path = active.path_of(found)
    fix = (
        f"The mirror {active.root} is damaged: rebuild it with "
        f"`zoo pull --from-lock {active.lock_file} --to {active.root}` where there is network."
    )
    if not path.is_file():
        raise WeightsNotAvailableError(
            found.path, [str(path)], fix, reason=f"listed in {mirror.LOCK_NAME} but missing"
        )
    if expected and expected != found.sha256:
        raise IntegrityError(
            str(path),
            expected,
            found.sha256,
            removed=False,
            fix="The mirror holds another file than the manifest declares: pull the model again.",
        )
    verify(path, found.sha256, fix=fix)
    return path


def url_file(
    url: str, *, sha256: str | None = None, name: str = "", dest: Path | None = None
) -> Path:
    """A URL's file: from the mirror, zoo's cache, or the network (unless offline).

    Args:
        url: The file's URL.
        sha256: Its declared hash, verified whenever the file is used.
        name: The model's name, for the messages.
        dest: Where to cache it (default :func:`url_cache_path`); side files of
            an ONNX model go next to the model file.
    """
    active = mirror.active()
    if active is not None and (found := active.find_url(url)) is not None:
        return _mirrored(found, active, sha256)
    dest = dest or url_cache_path(url)
    if dest.exists():
        verify(dest, sha256, remove_bad=not offline())
        return dest
    fix = (
        f"Run `zoo load {name}` once with network access or `zoo pull {name}`; or set ZOO_MIRROR "
        f"to a mirror made with `zoo pull {name} --to DIR`; or download {url} and save it as {dest}."
    )
    if offline():
        raise WeightsNotAvailableError(
            url, _looked(str(dest)), fix, reason=_offline_reason("cached")
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
        f"Fetch it with network access (`zoo pull {name}`, or `hf download {loc.repo}{what}{rev}`), "
        f"or set ZOO_MIRROR to a mirror made with `zoo pull {name} --to DIR`, "
        "or copy a Hugging Face cache that has it and point HF_HOME at it."
    )


def _hf_blob_files(found: Path) -> Iterator[tuple[Path, str]]:
    """Files of a Hub snapshot (or one file) whose cache blob is named by its sha256 (LFS files)."""
    files = [found] if found.is_file() else sorted(p for p in found.rglob("*") if p.is_file())
    for file in files:
        real = file.resolve()
        if real.parent.name == "blobs" and _BLOB_SHA256.fullmatch(real.name):
            yield file, real.name


def hf_commit(path: Path, filename: str | None = None) -> str | None:
    """The commit of a file (or snapshot folder) of the Hugging Face cache, from its path."""
    depth = len(PurePosixPath(filename).parts) if filename else 0
    snapshot = path.parents[depth - 1] if depth else path
    return snapshot.name if snapshot.parent.name == "snapshots" else None


def hf_cached(loc: HfLocation) -> Path | None:
    """A Hub file or snapshot folder already in the Hugging Face cache, found on disk only.

    huggingface_hub's own ``local_files_only`` calls may still reach the Hub (for
    telemetry registries) unless its import-time offline flag is set; this never does.
    """
    cache = constants.hf_hub_cache()
    if loc.filename:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(
            loc.repo, loc.filename, cache_dir=str(cache), revision=loc.revision
        )
        return Path(found) if isinstance(found, str) and Path(found).is_file() else None
    repo_dir = cache / f"models--{loc.repo.replace('/', '--')}"
    revision = loc.revision or "main"
    ref = repo_dir / "refs" / revision
    with contextlib.suppress(OSError):
        revision = ref.read_text().strip() if ref.is_file() else revision
    snapshot = repo_dir / "snapshots" / revision
    return snapshot if snapshot.is_dir() and any(snapshot.iterdir()) else None


def hf_path(loc: HfLocation, *, name: str = "", allow_patterns: list[str] | None = None) -> Path:
    """A Hub file (``loc.filename``) or repository snapshot: mirror, cache, or network.

    The cache (``HF_HUB_CACHE``, read now) is tried first: no network at all for
    a cached pinned revision. Offline, or when the Hub cannot be reached, a miss
    fails at once with :class:`WeightsNotAvailableError` instead of retrying for
    a minute. Files stored by their sha256 (LFS weights) are verified against it.
    """
    try:
        import huggingface_hub as hfh
        from huggingface_hub import errors as hf_errors
    except ImportError as exc:  # pragma: no cover - a base dependency
        raise WeightsNotAvailableError(
            loc.repo, [], "pip install huggingface_hub", reason=str(exc)
        ) from None

    active = mirror.active()
    if active is not None:
        if loc.filename:
            if (entry := active.find_hf_file(loc)) is not None:
                return _mirrored(entry, active, None)
        elif (folder := active.find_folder("hf", loc.repo, loc.revision)) is not None:
            for entry in folder[1]:
                _mirrored(entry, active, None)
            return folder[0]

    target = f"{loc.repo}/{loc.filename}" if loc.filename else loc.repo
    if loc.revision:
        target += f"@{loc.revision}"
    cache = constants.hf_hub_cache()
    endpoint = constants.hf_endpoint()
    looked = _looked(str(cache))

    def fetch(force: bool = False) -> Path:
        common: dict[str, Any] = {
            "revision": loc.revision,
            "cache_dir": str(cache),
            "force_download": force,
            "endpoint": endpoint,
        }
        if loc.filename:
            return Path(hfh.hf_hub_download(loc.repo, loc.filename, **common))
        return Path(hfh.snapshot_download(loc.repo, allow_patterns=allow_patterns, **common))

    def checked(found: Path, refetch: bool) -> Path:
        fix = (
            "The Hugging Face cache holds a damaged copy: delete it "
            f"(`hf cache delete`) and fetch it again with `zoo pull {name}`."
        )
        try:
            for file, sha in _hf_blob_files(found):
                verify(file, sha, fix=fix)
        except IntegrityError:
            if not refetch or offline() or not reachable(endpoint):
                raise
            return checked(fetch(force=True), refetch=False)
        return found

    found = hf_cached(loc)
    if found is not None:
        return checked(found, refetch=True)
    if offline():
        raise WeightsNotAvailableError(
            target, looked, _hf_fix(loc, name), reason=_offline_reason("in the Hugging Face cache")
        )
    if not reachable(endpoint):
        raise WeightsNotAvailableError(
            target,
            looked,
            _hf_fix(loc, name),
            reason=f"cannot reach {endpoint} and not in the Hugging Face cache",
        )
    try:
        return checked(fetch(), refetch=False)
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


# -- ONNX external data --------------------------------------------------------------------------


def _side_name(relname: str, manifest: Manifest) -> str:
    path = PurePosixPath(relname.replace("\\", "/"))
    if not relname or path.is_absolute() or ".." in path.parts:
        raise LoadError(
            f"{manifest.name}: the ONNX file names external data {relname!r} outside its folder; "
            "refusing to read it"
        )
    return path.as_posix()


def onnx_side_files(manifest: Manifest, main: Path) -> list[tuple[str, Path]]:
    """The external-data files an ONNX model file names, fetched next to it.

    ``model.onnx`` can keep its tensors in ``model.onnx.data`` (or any name it
    records); onnxruntime reads them from the model's folder, so they come from
    the same place as the model: the same URL folder, Hub repository and
    commit, local folder or mirror.

    Returns:
        ``(name relative to the model's folder, local path)`` for each file.
    """
    ckpt = manifest.checkpoint
    assert ckpt is not None
    found = []
    for location in external_data_locations(main):
        rel = _side_name(location, manifest)
        if ckpt.url is not None:
            side_url = urllib.parse.urljoin(ckpt.url, rel)
            path = url_file(side_url, name=manifest.name, dest=main.parent / rel)
        elif ckpt.hf is not None:
            assert ckpt.hf.filename is not None
            filename = (PurePosixPath(ckpt.hf.filename).parent / rel).as_posix()
            revision = hf_commit(main, ckpt.hf.filename) or ckpt.hf.revision
            loc = ckpt.hf.model_copy(update={"filename": filename, "revision": revision})
            path = hf_path(loc, name=manifest.name)
        else:
            path = main.parent / rel
            if not path.is_file():
                raise WeightsNotAvailableError(
                    str(path),
                    [str(path)],
                    f"Put {rel} next to {main.name}: the ONNX model keeps its tensors there.",
                    reason="external data of an ONNX model",
                )
        found.append((rel, path))
    return found


# -- a manifest's checkpoint ---------------------------------------------------------------------


def _local(manifest: Manifest, path: str) -> Path:
    active = mirror.active()
    if active is not None:
        if (entry := active.find_local(path, manifest.name)) is not None:
            return _mirrored(entry, active, None)
        if (folder := active.find_folder("local", path)) is not None:
            for item in folder[1]:
                if item.name == manifest.name:
                    _mirrored(item, active, None)
            return folder[0]
    return local_path(manifest, path)


def resolve(manifest: Manifest, *, allow_patterns: list[str] | None = None) -> Path:
    """The local file or folder of a manifest's ``path``, ``url`` or ``hf`` checkpoint.

    ``timm`` tags are resolved by the timm loader, which knows timm's registry.
    A declared sha256 is verified (zoo's own cache drops a bad file; a user's
    file or the Hugging Face cache is left alone and the load refused). For an
    ``onnx`` wrapper the model's external-data files are fetched too.
    """
    ckpt = manifest.checkpoint
    if ckpt is None or ckpt.timm is not None:
        raise ValueError(f"{manifest.name}: no path/url/hf checkpoint to resolve")
    if ckpt.url is not None:
        found = url_file(ckpt.url, sha256=ckpt.sha256, name=manifest.name)
    else:
        if ckpt.hf is not None:
            found = hf_path(ckpt.hf, name=manifest.name, allow_patterns=allow_patterns)
        else:
            found = _local(manifest, ckpt.path or "")
        if ckpt.sha256 and found.is_file():
            verify(found, ckpt.sha256)
    if manifest.wrapper.type == "onnx" and found.is_file():
        onnx_side_files(manifest, found)
    return found
