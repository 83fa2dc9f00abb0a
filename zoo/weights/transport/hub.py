"""The Hugging Face Hub: its cache layout on disk, and fetching into it with zoo's deadlines.

zoo reads and writes the cache the way ``huggingface_hub`` lays it out, so files fetched
by either are found by both::

    <HF_HUB_CACHE>/models--owner--name/
        blobs/<sha256 or git sha1>            the bytes, named by their content hash
        snapshots/<commit>/<filename> -> ../../blobs/<hash>
        refs/<branch or tag>                  the commit it pointed to when fetched

Downloads go through :mod:`zoo.weights.transport.http` (deadlines, bounded retries, resuming), not
through ``huggingface_hub``, whose own retries can keep a load waiting for many minutes on
an endpoint that never answers. No torch here.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import re
import urllib.parse
from pathlib import Path, PurePosixPath

from zoo import settings
from zoo.catalog.roots import inside
from zoo.errors import DownloadError, IntegrityError, PathEscapeError, WeightsNotAvailableError
from zoo.manifest import HfLocation
from zoo.text import unsafe_name
from zoo.weights.transport import http, integrity

_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_commit(revision: str | None) -> bool:
    """Whether a revision is a full commit sha (immutable), not a branch or tag."""
    return bool(revision and _COMMIT.fullmatch(revision))


def repo_folder(repo: str) -> Path:
    """The cache folder of a model repository."""
    return settings.hf_hub_cache() / f"models--{repo.replace('/', '--')}"


def _commit_of(repo_dir: Path, revision: str | None) -> str | None:
    revision = revision or "main"
    if is_commit(revision):
        return revision
    ref = inside(repo_dir, f"refs/{revision}", what="the revision")
    with contextlib.suppress(OSError):
        text = ref.read_text().strip()
        return text if is_commit(text) else None
    return None


def cached(loc: HfLocation) -> Path | None:
    """A Hub file (``loc.filename``) or snapshot folder already in the cache; disk only."""
    repo_dir = repo_folder(loc.repo)
    commit = _commit_of(repo_dir, loc.revision)
    if commit is None:
        return None
    snapshot = repo_dir / "snapshots" / commit
    if loc.filename:
        found = inside(repo_dir, f"snapshots/{commit}/{loc.filename}", what="the Hub file")
        return found if found.is_file() else None
    return snapshot if snapshot.is_dir() and any(snapshot.iterdir()) else None


def commit_of(path: Path, filename: str | None = None) -> str | None:
    """The commit of a cached file (or snapshot folder), read from its path."""
    if filename and unsafe_name(filename) is not None:
        return None
    depth = len(PurePosixPath(filename).parts) if filename else 0
    snapshot = path.parents[depth - 1] if depth else path
    return snapshot.name if snapshot.parent.name == "snapshots" else None


def snapshot_files(folder: Path) -> list[Path]:
    """The files of a snapshot folder (a Hub snapshot, a mirror's or a local folder), sorted.

    Raises:
        PathEscapeError: A file is a link out of the folder (out of the repository's cache
            folder for a Hub snapshot, whose files link to its ``blobs``).
    """
    root = folder.parent.parent if folder.parent.name == "snapshots" else folder
    return sorted(
        inside(root, p.relative_to(root).as_posix(), what="the file")
        for p in folder.rglob("*")
        if p.is_file()
    )


def check_files(found: Path, *, fix: str) -> None:
    """Verify every cached file under ``found`` against the hash its blob is named by."""
    for file in [found] if found.is_file() else snapshot_files(found):
        integrity.check_hub_blob(file, fix=fix)


# -- fetching -----------------------------------------------------------------------------------


def _auth() -> dict[str, str]:
    token = settings.hf_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def resolve_url(loc: HfLocation, revision: str | None = None) -> str:
    """The Hub URL of one file at a revision."""
    rev = urllib.parse.quote(revision or loc.revision or "main", safe="")
    name = urllib.parse.quote(loc.filename or "", safe="/")
    return f"{settings.hf_endpoint()}/{loc.repo}/resolve/{rev}/{name}"


def _not_available(loc: HfLocation, exc: DownloadError) -> WeightsNotAvailableError | None:
    """The Hub's refusals, in words: gated or private (401/403), not found (404)."""
    where = f"{loc.repo}/{loc.filename}" if loc.filename else loc.repo
    if loc.revision:
        where += f"@{loc.revision}"
    if exc.status in (401, 403):
        return WeightsNotAvailableError(
            where,
            [exc.url],
            f"If the repository is gated, request access on {settings.hf_endpoint()}/{loc.repo} "
            "and set HF_TOKEN (or run `hf auth login`); otherwise check checkpoint.hf.repo.",
            reason=f"the Hub refused access (HTTP {exc.status}): gated, private or missing",
            absent=False,
        )
    if exc.status == 404:
        return WeightsNotAvailableError(
            where,
            [exc.url],
            "Check checkpoint.hf (repo, revision, filename) in the manifest.",
            reason="not found on the Hub (HTTP 404)",
        )
    return None


def _etag(answer: http.Answer) -> str | None:
    value = answer.header("X-Linked-Etag") or answer.header("ETag")
    if not value:
        return None
    value = value.removeprefix("W/").strip('"')
    return value if integrity.is_sha256(value) or _COMMIT.fullmatch(value) else None


def _link(repo_dir: Path, commit: str, filename: str, blob: Path) -> Path:
    link = inside(repo_dir, f"snapshots/{commit}/{filename}", what="the Hub file")
    link.parent.mkdir(parents=True, exist_ok=True)
    target = Path(*[".."] * (len(PurePosixPath(filename).parts) + 1)) / "blobs" / blob.name
    tmp = link.with_name(f".{link.name}.zoo-link")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)
    return link


def _write_ref(repo_dir: Path, revision: str | None, commit: str) -> None:
    name = revision or "main"
    if is_commit(name):
        return
    ref = inside(repo_dir, f"refs/{name}", what="the revision")
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f".{ref.name}.zoo-ref")
    tmp.write_text(commit)
    tmp.replace(ref)


def fetch_file(loc: HfLocation, *, sha256: str | None = None) -> Path:
    """Download one file of a repository into the cache (resumable, verified) and return it.

    The Hub names the bytes (its ETag: the sha256 for LFS files, the git object id for
    small ones); the download is checked against that name and against ``sha256``.

    Raises:
        WeightsNotAvailableError: Gated, private or not found.
        DownloadError / EndpointTimeoutError: The Hub failed or did not answer in time.
        IntegrityError: The bytes are not what the Hub or ``sha256`` says.
    """
    assert loc.filename is not None
    repo_dir = repo_folder(loc.repo)
    url = resolve_url(loc)
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    staging = repo_dir / "blobs" / f"zoo-{key}"

    def place(partial: Path, done: http.Download) -> Path:
        etag = _etag(done.answer)
        if etag is not None and len(etag) == 64 and etag != done.sha256:
            partial.unlink(missing_ok=True)
            raise IntegrityError(url, etag, done.sha256, removed=True, declared_by="the Hub's ETag")
        if etag is not None and len(etag) == 40 and integrity.git_blob_sha1(partial) != etag:
            partial.unlink(missing_ok=True)
            raise IntegrityError(
                url, etag, "another git object", removed=True, declared_by="the Hub's ETag"
            )
        commit = done.answer.header("X-Repo-Commit") or (
            loc.revision if is_commit(loc.revision) else None
        )
        if commit is None:
            commit = _resolve_commit(loc)
        elif not is_commit(commit):
            partial.unlink(missing_ok=True)
            raise DownloadError(
                f"{url} named the commit {commit[:80]!r} (X-Repo-Commit), which is not a commit "
                "sha; nothing was placed in the cache",
                url=url,
            )
        blob = repo_dir / "blobs" / (etag or done.sha256)
        partial.replace(blob)
        _write_ref(repo_dir, loc.revision, commit)
        return _link(repo_dir, commit, loc.filename or "", blob)

    staging.parent.mkdir(parents=True, exist_ok=True)
    with http.file_lock(staging):
        found = cached(loc)
        if found is not None:
            return found
        try:
            return http.download(
                url, staging, sha256=sha256, unredirected=_auth(), place=place
            ).path
        except DownloadError as exc:
            refused = _not_available(loc, exc)
            if refused is not None:
                raise refused from None
            raise


def _resolve_commit(loc: HfLocation) -> str:
    info = _revision_info(loc)
    return str(info["sha"])


def _revision_info(loc: HfLocation) -> dict[str, object]:
    rev = urllib.parse.quote(loc.revision or "main", safe="")
    url = f"{settings.hf_endpoint()}/api/models/{loc.repo}/revision/{rev}"
    try:
        info = http.get_json(url, unredirected=_auth())
    except DownloadError as exc:
        refused = _not_available(loc, exc)
        if refused is not None:
            raise refused from None
        raise
    if not isinstance(info, dict) or not _COMMIT.fullmatch(str(info.get("sha", ""))):
        raise DownloadError(f"{url} did not name the commit of {loc.repo}", url=url)
    return info


def _snapshot_record(repo: str, commit: str, patterns: list[str]) -> Path:
    return integrity.state_file("snapshots", json.dumps([repo, commit, sorted(patterns)]), ".json")


def complete_snapshot(loc: HfLocation, patterns: list[str]) -> Path | None:
    """A cached snapshot that holds every file a previous fetch with these patterns listed
    (or, for a snapshot zoo did not fetch, any non-empty one); disk only."""
    folder = cached(loc)
    if folder is None:
        return None
    try:
        listed = json.loads(_snapshot_record(loc.repo, folder.name, patterns).read_text())
    except (OSError, ValueError):
        return folder
    if not isinstance(listed, list):
        return folder
    repo_dir = folder.parent.parent
    present = all(
        inside(repo_dir, f"snapshots/{folder.name}/{name}", what="the listed file").is_file()
        for name in listed
    )
    return folder if present else None


def fetch_snapshot(loc: HfLocation, patterns: list[str]) -> Path:
    """Download the files of a repository revision that match ``patterns`` into the cache.

    Raises:
        WeightsNotAvailableError: Gated, private, not found, or no file matches.
        DownloadError / EndpointTimeoutError: The Hub failed or did not answer in time.
    """
    info = _revision_info(loc)
    commit = str(info["sha"])
    siblings = info.get("siblings")
    names = (
        [str(s.get("rfilename")) for s in siblings if isinstance(s, dict)]
        if isinstance(siblings, list)
        else []
    )
    chosen = sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))
    for name in chosen:
        if (why := unsafe_name(name)) is not None:
            raise PathEscapeError(
                f"{settings.hf_endpoint()} lists a file {name[:200]!r} in {loc.repo} that {why}: "
                "refusing to fetch the repository"
            )
    if not chosen:
        raise WeightsNotAvailableError(
            loc.repo,
            [settings.hf_endpoint()],
            "Check checkpoint.hf.repo and the revision.",
            reason=f"no file of the repository matches {', '.join(patterns)}",
        )
    for name in chosen:
        fetch_file(HfLocation(repo=loc.repo, revision=commit, filename=name))
    repo_dir = repo_folder(loc.repo)
    _write_ref(repo_dir, loc.revision, commit)
    record = _snapshot_record(loc.repo, commit, patterns)
    with contextlib.suppress(OSError):
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(chosen))
    return repo_dir / "snapshots" / commit
