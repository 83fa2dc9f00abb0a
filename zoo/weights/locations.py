"""The four places bytes can come from: a URL, a Hub file, a Hub repository, a local path.

Each is looked up in the same order: the active mirror (which turns the network off),
then the cache (zoo's download cache, the Hugging Face cache) or the disk, then the
network unless offline. :mod:`zoo.weights.sources` maps a manifest's checkpoint kind onto
one of these; nothing else decides where bytes come from.

What a hash mismatch does depends on whose file it is: zoo removes only a damaged file of
its own download cache that nothing vouches for (not its download record, not another
manifest's sha256); a user's file, a mirror and the Hugging Face cache are never touched.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from zoo import settings
from zoo.catalog.roots import inside
from zoo.errors import IntegrityError, WeightsNotAvailableError
from zoo.manifest import HfLocation
from zoo.text import unsafe_name
from zoo.weights.transport import http, hub, integrity, mirror

log = logging.getLogger("zoo")


@dataclass(frozen=True)
class Context:
    """Who asks, for messages: the model, the manifest field and what it names.

    Attributes:
        name: The model's name.
        field: The manifest field the bytes come from (``checkpoint.timm``).
        what: What that field names, in words.
        declared_by: Who declares the expected sha256 (``name (file)``).
        manifests_declaring: Names (with files) of other manifests declaring a given sha256.
    """

    name: str
    field: str
    what: str
    declared_by: str
    manifests_declaring: Callable[[str], list[str]]


def offline() -> bool:
    """No network for zoo: ``ZOO_OFFLINE`` / ``HF_HUB_OFFLINE``, or a mirror in use."""
    return settings.offline_requested() or mirror.active() is not None


def _offline_reason(what: str) -> str:
    active = mirror.active()
    if active is not None:
        return f"not in the mirror {active.root} (a mirror turns the network off) and not {what}"
    return f"offline mode (ZOO_OFFLINE / HF_HUB_OFFLINE) and not {what}"


def _looked(*places: str) -> list[str]:
    active = mirror.active()
    return ([str(active.lock_file)] if active is not None else []) + list(places)


def mirrored(
    found: mirror.LockEntry, active: mirror.Mirror, expected: str | None, ctx: Context
) -> Path:
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
            declared_by=ctx.declared_by,
            vouched_by=[f"{active.lock_file} (entry of {found.name})"],
            fix="The mirror holds another file than the manifest declares: pull the model again.",
        )
    integrity.check(path, found.sha256, fix=fix, declared_by=str(active.lock_file))
    return path


# -- URL ----------------------------------------------------------------------------------------


def url_cache_path(url: str) -> Path:
    """Where a URL's file is cached: ``<ZOO_HOME>/downloads/<hash of url>/<file name>``."""
    name = PurePosixPath(urllib.parse.urlsplit(url).path).name
    if not name or unsafe_name(name) is not None:
        name = "download"
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return inside(settings.cache_dir(), f"{key}/{name}", what="the download")


def _cached_download(dest: Path, declared: str | None, ctx: Context) -> Path | None:
    """A file of zoo's download cache, verified; ``None`` when it was damaged and removed."""
    own = integrity.recorded(dest)
    try:
        integrity.check(dest, declared or own, declared_by=ctx.declared_by if declared else "")
        return dest
    except IntegrityError as exc:
        actual = exc.actual
        manifests_declaring = [
            v for v in ctx.manifests_declaring(actual) if not v.startswith(f"{ctx.name} (")
        ]
        if own == actual:
            manifests_declaring.insert(
                0, "zoo's record of the download (these are the bytes the server sent)"
            )
        if manifests_declaring:
            raise IntegrityError(
                str(dest),
                exc.expected,
                actual,
                removed=False,
                declared_by=exc.declared_by or "zoo's record of the download",
                vouched_by=manifests_declaring,
                fix=f"Check {ctx.field}.sha256 of {ctx.name}: if it is right, the server now sends other "
                f"bytes; delete {dest} yourself to fetch it again.",
            ) from None
        if offline():
            raise IntegrityError(
                str(dest),
                exc.expected,
                actual,
                removed=False,
                declared_by=exc.declared_by,
                fix="The cached download is damaged; fetch it again where there is network.",
            ) from None
        log.warning(
            "zoo: the cached download %s of %s is damaged (sha256 %s, expected %s); fetching it again",
            dest,
            ctx.name,
            actual,
            exc.expected,
        )
        dest.unlink(missing_ok=True)
        integrity.forget(dest)
        return None


def url_file(url: str, sha256: str | None, ctx: Context, *, dest: Path | None = None) -> Path:
    """A URL's file: from the mirror, zoo's cache, or the network (unless offline)."""
    active = mirror.active()
    if active is not None and (found := active.find_url(url)) is not None:
        return mirrored(found, active, sha256, ctx)
    dest = dest or url_cache_path(url)
    if dest.exists() and (good := _cached_download(dest, sha256, ctx)) is not None:
        return good
    if offline():
        raise WeightsNotAvailableError(
            url,
            _looked(str(dest)),
            f"Run `zoo pull {ctx.name}` where there is network and set ZOO_MIRROR to a mirror made "
            f"with `zoo pull {ctx.name} --to DIR`; or download {url} and save it as {dest}.",
            reason=_offline_reason("cached"),
        )
    with http.file_lock(dest):
        if dest.exists() and (good := _cached_download(dest, sha256, ctx)) is not None:
            return good  # another process finished it while this one waited
        return http.download(url, dest, sha256=sha256).path


# -- Hugging Face Hub ---------------------------------------------------------------------------


def hf_fix(loc: HfLocation, name: str) -> str:
    """How to get a Hub file or repository without zoo's help."""
    rev = f" --revision {loc.revision}" if loc.revision else ""
    what = f" {loc.filename}" if loc.filename else ""
    return (
        f"Fetch it where there is network (`zoo pull {name}`, or `hf download {loc.repo}{what}{rev}`), "
        f"or set ZOO_MIRROR to a mirror made with `zoo pull {name} --to DIR`, "
        "or copy a Hugging Face cache that has it and point HF_HOME at it."
    )


def _hf_target(loc: HfLocation) -> str:
    target = f"{loc.repo}/{loc.filename}" if loc.filename else loc.repo
    return target + (f"@{loc.revision}" if loc.revision else "")


def _cached_hf(found: Path, loc: HfLocation, sha256: str | None, ctx: Context) -> Path:
    fix = (
        f"The Hugging Face cache holds a damaged copy of {_hf_target(loc)}: delete it "
        f"(`hf cache delete`, or remove {found.resolve()}) and fetch it again with `zoo pull {ctx.name}`."
    )
    hub.check_files(found, fix=fix)
    if sha256 and found.is_file():
        try:
            integrity.check(found, sha256, declared_by=ctx.declared_by)
        except IntegrityError as exc:
            vouched = [
                v for v in ctx.manifests_declaring(exc.actual) if not v.startswith(f"{ctx.name} (")
            ]
            if integrity.hub_blob_name(found) == exc.actual:
                vouched.insert(0, "its Hugging Face blob name (the Hub's own hash of the file)")
            raise IntegrityError(
                str(found),
                sha256,
                exc.actual,
                removed=False,
                declared_by=ctx.declared_by,
                vouched_by=vouched,
                fix=f"Check {ctx.field} and checkpoint.sha256 of {ctx.name}; the cached file was left alone.",
            ) from None
    return found


def hf_file(loc: HfLocation, sha256: str | None, ctx: Context) -> Path:
    """One file of a Hub repository: mirror, Hugging Face cache, or the Hub."""
    active = mirror.active()
    if active is not None and (entry := active.find_hf_file(loc)) is not None:
        return mirrored(entry, active, sha256, ctx)
    found = hub.cached(loc)
    if found is not None:
        return _cached_hf(found, loc, sha256, ctx)
    _refuse_offline(loc, ctx)
    return _cached_hf(hub.fetch_file(loc, sha256=sha256), loc, sha256, ctx)


def hf_repo(loc: HfLocation, patterns: list[str], ctx: Context) -> Path:
    """The files of a Hub repository that match ``patterns``, as a snapshot folder."""
    active = mirror.active()
    if (
        active is not None
        and (folder := active.find_folder("hf", loc.repo, loc.revision)) is not None
    ):
        for entry in folder[1]:
            mirrored(entry, active, None, ctx)
        return folder[0]
    found = hub.complete_snapshot(loc, patterns)
    if found is not None:
        return _cached_hf(found, loc, None, ctx)
    _refuse_offline(loc, ctx)
    return _cached_hf(hub.fetch_snapshot(loc, patterns), loc, None, ctx)


def _refuse_offline(loc: HfLocation, ctx: Context) -> None:
    if offline():
        raise WeightsNotAvailableError(
            _hf_target(loc),
            _looked(str(settings.hf_hub_cache())),
            hf_fix(loc, ctx.name),
            reason=_offline_reason("in the Hugging Face cache"),
        )


# -- local files --------------------------------------------------------------------------------


def local(path: Path, written: str, sha256: str | None, ctx: Context) -> Path:
    """A local file or folder (``written`` as the manifest gives it), or the mirror's copy."""
    active = mirror.active()
    if active is not None:
        if (entry := active.find_local(written, ctx.name)) is not None:
            return mirrored(entry, active, sha256, ctx)
        if (folder := active.find_folder("local", written)) is not None:
            for item in folder[1]:
                if item.name == ctx.name:
                    mirrored(item, active, None, ctx)
            return folder[0]
    if not path.exists():
        raise WeightsNotAvailableError(
            str(path), [str(path)], f"Put the weights at {path} or fix {ctx.field} of {ctx.name}."
        )
    if sha256 and path.is_file():
        integrity.check(path, sha256, declared_by=ctx.declared_by, fix="The file was left alone.")
    return path


def side_name(relname: str, ctx: Context) -> str:
    """An ONNX external-data name, refused when it leaves the model's folder."""
    from zoo.errors import LoadError

    name = PurePosixPath(relname.replace("\\", "/")).as_posix()  # `./x` and `a//b` are fine
    if unsafe_name(name) is not None:
        raise LoadError(
            f"{ctx.name}: the ONNX file names external data {relname!r} outside its folder; "
            "refusing to read it"
        )
    return name
