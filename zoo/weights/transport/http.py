"""HTTP for weights: every request has a deadline, retries are bounded, downloads resume.

- A host has ``ZOO_CONNECT_TIMEOUT`` seconds in all to accept the connection and answer with
  a status line and headers, redirects included: an overall deadline, not a per-read timeout,
  so a host that trickles its headers fails after it as one that stays silent does, once:
  a timeout is never retried.
- A small document (the Hub's metadata) then has ``ZOO_DOWNLOAD_TIMEOUT`` seconds in all for
  its body.
- A download may stall for ``ZOO_DOWNLOAD_TIMEOUT`` seconds at most, and must bring at least
  ``settings.MIN_DOWNLOAD_RATE`` bytes a second averaged over each such span (a host that
  trickles a byte now and then fails too); what arrived is kept for resuming.
- Busy answers (429, 5xx) and connections cut before any answer are retried, twice at most,
  so one request takes at most ``ATTEMPTS`` deadlines and 1.5 s of pauses.
- Bytes go to ``<name>.incomplete`` next to the target and are renamed into place only when
  complete and verified; an interrupted transfer (error, Ctrl-C) keeps them, and the next
  attempt asks for the rest with an HTTP ``Range`` request.
- Files are created with the user's umask (0666 minus umask), like any other program's.

No torch here, and nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import __version__, settings
from zoo.errors import DownloadError, IntegrityError
from zoo.weights.transport._deadline import Deadline, is_timeout, settimeout, timeout_error
from zoo.weights.transport.integrity import CHUNK, state_file, write_record

#: Attempts for a request answered with a busy status or cut before the answer.
ATTEMPTS = 3
#: Attempts for a transfer that keeps making progress and then breaks off.
RESUMES = 3
_RETRY_STATUS = {429, 500, 502, 503, 504}
USER_AGENT = f"zoo/{__version__}"


@dataclass
class Answer:
    """What a request got back: the final response and the headers of every hop (redirects)."""

    response: Any
    hops: list[Mapping[str, str]] = field(default_factory=list)
    #: Watches the answer's sockets; re-armed to bound reading a body.
    deadline: Deadline = field(default_factory=Deadline)

    def header(self, name: str) -> str | None:
        """A header of the first hop that has it (the Hub puts its metadata on the redirect)."""
        for headers in [*self.hops, self.response.headers]:
            value = headers.get(name)
            if value:
                return str(value)
        return None


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects and remembers each redirect's headers."""

    def __init__(self, hops: list[Mapping[str, str]]) -> None:
        self.hops = hops

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def request(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    unredirected: Mapping[str, str] | None = None,
) -> Answer:
    """GET ``url`` within the deadlines; the caller reads (and closes) ``answer.response``.

    Args:
        url: The URL.
        headers: Headers sent to every hop.
        unredirected: Headers sent to this host only, never to a redirect target (tokens).

    Raises:
        EndpointTimeoutError: No complete answer (status and headers) within
            ``ZOO_CONNECT_TIMEOUT`` seconds in all.
        DownloadError: An error status, or the host cannot be reached.
    """
    endpoint = DownloadError("", url=url).endpoint
    for attempt in range(1, ATTEMPTS + 1):
        hops: list[Mapping[str, str]] = []
        deadline = Deadline()
        opener = urllib.request.build_opener(_RecordingRedirects(hops), *deadline.handlers())
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        for key, value in (unredirected or {}).items():
            req.add_unredirected_header(key, value)
        deadline.start(settings.connect_timeout())
        try:
            response = opener.open(req, timeout=settings.connect_timeout())
        except urllib.error.HTTPError as exc:
            exc.close()
            if deadline.stop():
                raise timeout_error(url, "answer") from None
            if exc.code in _RETRY_STATUS and attempt < ATTEMPTS:
                time.sleep(0.5 * attempt)
                continue
            raise DownloadError(
                f"{url} answered HTTP {exc.code} {exc.reason}", url=url, status=exc.code
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if deadline.stop() or is_timeout(exc):
                raise timeout_error(url, "answer") from None
            reason = getattr(exc, "reason", None) or exc
            if (
                isinstance(reason, (ConnectionResetError, http.client.RemoteDisconnected))
                and attempt < ATTEMPTS
            ):
                time.sleep(0.5 * attempt)
                continue
            if isinstance(reason, socket.gaierror):
                raise DownloadError(f"cannot reach {endpoint}: unknown host", url=url) from None
            raise DownloadError(f"cannot reach {endpoint}: {reason}", url=url) from None
        if deadline.stop():  # the headers were cut off at the deadline
            response.close()
            raise timeout_error(url, "answer")
        settimeout(response, settings.download_timeout())
        return Answer(response, hops, deadline)
    raise AssertionError("unreachable")  # pragma: no cover


def get_json(url: str, *, unredirected: Mapping[str, str] | None = None) -> Any:
    """GET a small JSON document: headers and body each within their overall deadline."""
    answer = request(url, headers={"Accept": "application/json"}, unredirected=unredirected)
    answer.deadline.start(settings.download_timeout())
    try:
        with answer.response as response:
            body = response.read(16 << 20)
        if answer.deadline.stop():
            raise TimeoutError
        return json.loads(body)
    except (TimeoutError, ValueError, OSError, http.client.HTTPException) as exc:
        if answer.deadline.stop() or isinstance(exc, TimeoutError):
            raise timeout_error(url, "document") from None
        raise DownloadError(f"{url} did not send valid JSON: {exc}", url=url) from None


# -- downloads ----------------------------------------------------------------------------------


@dataclass
class Download:
    """A finished download: its sha256, size and the answer's metadata."""

    path: Path
    sha256: str
    size: int
    answer: Answer


def _partial_state(partial: Path) -> Path:
    return state_file("partial", str(partial.resolve()), ".json")


def _read_partial(partial: Path, url: str) -> dict[str, Any] | None:
    """What is known of a partial file: its URL and the server's validator (ETag/Last-Modified)."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(_partial_state(partial).read_text())
        if isinstance(data, dict) and data.get("url") == url and partial.is_file():
            return data
    return None


def _write_partial(partial: Path, url: str, validator: str | None) -> None:
    state = _partial_state(partial)
    with contextlib.suppress(OSError):
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"url": url, "validator": validator}))


def _drop_partial(partial: Path) -> None:
    partial.unlink(missing_ok=True)
    _partial_state(partial).unlink(missing_ok=True)


@contextlib.contextmanager
def file_lock(target: Path) -> Iterator[None]:
    """An inter-process lock for one target file; lock files live in ``<ZOO_HOME>/locks``."""
    from filelock import FileLock

    lock = state_file("locks", str(target.resolve()), ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        yield


def _progress(total: int | None, done: int, label: str) -> Any:
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
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
        console=Console(stderr=True),
    )
    progress.start()
    progress.add_task(label, total=total, completed=done)
    return progress


def _open_for_append(partial: Path, offset: int) -> int:
    """The partial file's descriptor, positioned at ``offset`` (created 0666 minus the umask)."""
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT, 0o666)
    os.ftruncate(fd, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return fd


def _hash_prefix(partial: Path, offset: int) -> Any:
    digest = hashlib.sha256()
    if offset:
        with partial.open("rb") as fh:
            remaining = offset
            while remaining and (chunk := fh.read(min(CHUNK, remaining))):
                digest.update(chunk)
                remaining -= len(chunk)
    return digest


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-999/1000"
    if not value or not value.startswith("bytes "):
        return None
    with contextlib.suppress(ValueError):
        return int(value[6:].split("-", 1)[0])
    return None


def _total_size(answer: Answer, offset: int) -> int | None:
    response = answer.response
    if response.status == 206:
        total = (response.headers.get("Content-Range") or "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) + offset if length and length.isdigit() else None


def _attempt(
    url: str, partial: Path, headers: Mapping[str, str], unredirected: Mapping[str, str]
) -> tuple[Answer, Any, int, int | None]:
    """One transfer into ``partial``, resuming what is there; returns (answer, digest, size, total)."""
    known = _read_partial(partial, url)
    offset = partial.stat().st_size if known is not None else 0
    asked = dict(headers)
    if offset:
        asked["Range"] = f"bytes={offset}-"
        if known and known.get("validator"):
            asked["If-Range"] = str(known["validator"])
    try:
        answer = request(url, headers=asked, unredirected=unredirected)
    except DownloadError as exc:
        if exc.status != 416 or not offset:
            raise
        _drop_partial(partial)  # the range no longer fits the file: start over
        offset = 0
        answer = request(url, headers=headers, unredirected=unredirected)
    response = answer.response
    if (
        response.status == 206
        and _content_range_start(response.headers.get("Content-Range")) == offset
    ):
        digest = _hash_prefix(partial, offset)
    else:
        offset, digest = 0, hashlib.sha256()
    validator = answer.header("ETag") or answer.header("Last-Modified")
    _write_partial(partial, url, validator)
    total = _total_size(answer, offset)
    received = offset
    fd = _open_for_append(partial, offset)
    bar = _progress(total, offset, Path(urllib.parse.urlsplit(url).path).name)
    span, floor = settings.download_timeout(), settings.MIN_DOWNLOAD_RATE
    since, at = received, time.monotonic()
    try:
        with response, os.fdopen(fd, "wb") as fh:
            while chunk := response.read1(CHUNK):  # one socket read: a trickle is seen
                fh.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if (now := time.monotonic()) - at >= span:
                    if received - since < floor * (now - at):
                        raise timeout_error(url, "slow")
                    since, at = received, now
                if bar is not None:
                    bar.update(bar.task_ids[0], completed=received)
    finally:
        if bar is not None:
            bar.stop()
    return answer, digest, received, total


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    headers: Mapping[str, str] | None = None,
    unredirected: Mapping[str, str] | None = None,
    place: Callable[[Path, Download], Path] | None = None,
) -> Download:
    """Download ``url`` to ``dest``: resumable, verified, atomic, under an inter-process lock.

    Args:
        url: What to fetch.
        dest: The final file; ``dest.incomplete`` holds the bytes until they are complete.
        sha256: The expected hash; a mismatch discards the bytes (nothing is placed).
        headers: Extra headers for every hop.
        unredirected: Headers for the first host only (a token must not follow a redirect).
        place: Moves the finished file into place and returns where it is (default: rename to
            ``dest``); the Hugging Face cache names files by what the answer says.

    Raises:
        DownloadError / EndpointTimeoutError: The transfer failed; what arrived is kept for
            the next attempt, never under ``dest``.
        IntegrityError: The complete file is not what ``sha256`` says (it is discarded).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".incomplete")
    best = partial.stat().st_size if partial.is_file() else 0
    for attempt in range(1, RESUMES + 1):
        try:
            answer, digest, received, total = _attempt(
                url, partial, headers or {}, unredirected or {}
            )
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
            if isinstance(exc, DownloadError):
                raise
            now = partial.stat().st_size if partial.is_file() else 0
            if now > best and attempt < RESUMES and not is_timeout(exc):
                best = now
                continue  # the connection broke after making progress: ask for the rest
            kept = f"; {now} bytes kept to resume from" if now else ""
            if is_timeout(exc):
                error = timeout_error(url, "body")
                error.reason += kept
                raise error from None
            raise DownloadError(
                f"download of {url} broke off ({exc or type(exc).__name__}){kept}", url=url
            ) from None
        if total is not None and received != total:
            if received > best and attempt < RESUMES:
                best = received
                continue
            raise DownloadError(
                f"download of {url} was cut short: got {received} of {total} bytes (kept to resume from)",
                url=url,
            )
        actual = digest.hexdigest()
        if sha256 and actual != sha256:
            _drop_partial(partial)
            raise IntegrityError(url, sha256, actual, removed=True, declared_by="the manifest")
        done = Download(partial, actual, received, answer)
        final = place(partial, done) if place is not None else _rename(partial, dest)
        _partial_state(partial).unlink(missing_ok=True)
        write_record(final, actual)
        done.path = final
        return done
    raise AssertionError("unreachable")  # pragma: no cover


def _rename(partial: Path, dest: Path) -> Path:
    partial.replace(dest)
    return dest
