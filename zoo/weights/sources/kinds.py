"""The checkpoint kinds that name their bytes directly: a local path, a URL, a Hub file, a Hub repository."""

from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import replace
from pathlib import Path, PurePosixPath

from zoo import settings
from zoo.catalog.roots import inside, manifest_relative
from zoo.errors import WeightsNotAvailableError
from zoo.manifest import HfLocation, Manifest
from zoo.problems import Problem
from zoo.weights import locations
from zoo.weights._format import check_checkpoint
from zoo.weights.sources.base import Located, Source, WeightsFile, hf_endpoint, in_mirror
from zoo.weights.transport import hub, integrity, mirror


class PathSource(Source):
    """``checkpoint.path``: a local file or folder, relative to the manifest's folder unless absolute."""

    kind, field = "path", "checkpoint.path"

    @property
    def written(self) -> str:
        """The path as the manifest gives it."""
        return self.checkpoint.path or ""

    def describe(self) -> str:
        return self.written

    def _identity(self) -> str | None:
        return None  # the same relative path names other files in other catalogues

    def resolved(self) -> Path:
        """The path on this machine.

        Raises:
            WeightsNotAvailableError: A relative path without a manifest file, or one that
                leaves the catalogue root.
        """
        given = Path(self.written).expanduser()
        if given.is_absolute():
            return given
        if self.manifest.file is None:
            raise WeightsNotAvailableError(
                self.written,
                [],
                "Give an absolute checkpoint.path, or load the manifest from its file.",
                reason="a relative path needs the manifest's file",
            )
        resolved, inside = manifest_relative(self.manifest.file, given)
        if not inside:
            raise WeightsNotAvailableError(
                self.written,
                [str(resolved)],
                "A relative checkpoint.path must stay inside the manifest's catalogue root; "
                "use an absolute path to point elsewhere.",
                reason="path escapes the catalogue root",
            )
        return resolved

    def advice(self) -> list[Problem]:
        if self.written.startswith("~") or Path(self.written).is_absolute():
            # Blocks under --strict (no known gap can excuse it) and in CI, where a shared
            # catalogue's entry could only name a file of the runner (`~/.ssh/...`).
            problem = self._warn(
                "checkpoint.path",
                "a path with `~` or an absolute path names a file outside the catalogue that "
                "only exists on your machine (and `zoo pull --to` would copy it into a mirror): "
                "publish the weights (checkpoint.hf with a pinned revision, or url + sha256) "
                "before sharing",
                "absolute_path",
            )
            return [replace(problem, severity="error") if settings.ci() else problem]
        if (
            self.manifest.file is not None
            and not manifest_relative(self.manifest.file, self.written)[1]
        ):
            return [
                Problem(
                    str(self.manifest.file),
                    "checkpoint.path",
                    "a relative path must stay inside the catalogue root (no `..` or symlink "
                    "out of it); use an absolute path to point elsewhere",
                    code="path_escape",
                )
            ]
        return []

    def locate(self) -> Located | None:
        active = mirror.active()
        if active is not None:
            entry = active.find_local(self.written, self.name)
            if entry is not None:
                return in_mirror(active, [entry], active.path_of(entry))
            if (folder := active.find_folder("local", self.written)) is not None:
                return in_mirror(active, folder[1], folder[0])
        try:
            path = self.resolved()
        except WeightsNotAvailableError:
            return None
        return Located("local", path) if path.exists() else None

    def _fetch(self) -> Path:
        return locations.local(
            self.resolved(), self.written, self.checkpoint.sha256, self.context()
        )

    def _sibling(self, rel: str, main: Path) -> Path:
        path = inside(main.parent, rel, what="the ONNX external data")
        if not path.is_file():
            raise WeightsNotAvailableError(
                str(path),
                [str(path)],
                f"Put {rel} next to {main.name}: the ONNX model keeps its tensors there.",
                reason="external data of an ONNX model",
            )
        return path

    def _record(
        self,
        path: Path,
        mirror_path: str,
        location: str,
        filename: str | None,
        sha: str | None = None,
    ) -> WeightsFile:
        return WeightsFile(
            "local", location, filename, None, None, path, self._sha(path, sha), mirror_path
        )

    def _files(self, main: Path) -> list[WeightsFile]:
        check_checkpoint(main, self.checkpoint.format, self.manifest.wrapper.type, what=self.name)
        folder = f"files/local/{self.name}"
        if main.is_dir():
            return [
                self._record(
                    f,
                    f"{folder}/{main.name}/{f.relative_to(main).as_posix()}",
                    self.written,
                    f.relative_to(main).as_posix(),
                )
                for f in hub.snapshot_files(main)
            ]
        return [
            self._record(main, f"{folder}/{main.name}", self.written, None, self.checkpoint.sha256)
        ]

    def _side_record(self, rel: str, path: Path, main: Path) -> WeightsFile:
        location = (PurePosixPath(self.written).parent / rel).as_posix()
        return self._record(path, f"files/local/{self.name}/{rel}", location, None)


class UrlSource(Source):
    """``checkpoint.url``: an http(s) file, cached by zoo."""

    kind, field = "url", "checkpoint.url"

    def __init__(self, manifest: Manifest, url: str | None = None) -> None:
        super().__init__(manifest)
        self.url = url or self.checkpoint.url or ""

    def describe(self) -> str:
        return self.url

    def _identity(self) -> str | None:
        return f"url:{self.url}"

    def advice(self) -> list[Problem]:
        if self.checkpoint.sha256 is None:
            message = (
                "no sha256: the download is checked by md5 only (that detects damage, not a "
                "forged file)"
                if self.checkpoint.md5
                else "no sha256: the download cannot be verified"
            )
            return [self._warn("checkpoint.sha256", message, "no_sha256")]
        return []

    def locate(self) -> Located | None:
        active = mirror.active()
        if active is not None and (entry := active.find_url(self.url)) is not None:
            return in_mirror(active, [entry], active.path_of(entry))
        dest = locations.url_cache_path(self.url)
        return Located("cached", dest) if dest.is_file() else None

    def _fetch(self) -> Path:
        ctx = self.context()
        path = locations.url_file(self.url, self.checkpoint.sha256, ctx)
        if self.checkpoint.md5 is not None:
            fix = (
                f"Check checkpoint.md5 of {ctx.name}: if it is right, the server now sends other "
                "bytes. The file was left alone."
            )
            integrity.check_md5(path, self.checkpoint.md5, fix=fix, declared_by=ctx.declared_by)
        return path

    def _sibling(self, rel: str, main: Path) -> Path:
        return locations.url_file(
            urllib.parse.urljoin(self.url, rel),
            None,
            self.context(),
            dest=inside(main.parent, rel, what="the ONNX external data"),
        )

    def _folder(self) -> str:

        return "files/url/" + hashlib.sha256(self.url.encode()).hexdigest()[:16]

    def _files(self, main: Path) -> list[WeightsFile]:
        sha = self._sha(main, self.checkpoint.sha256)
        return [
            WeightsFile(
                "url", self.url, None, None, None, main, sha, f"{self._folder()}/{main.name}"
            )
        ]

    def _side_record(self, rel: str, path: Path, main: Path) -> WeightsFile:
        side = urllib.parse.urljoin(self.url, rel)
        return WeightsFile(
            "url", side, None, None, None, path, self._sha(path), f"{self._folder()}/{rel}"
        )


class HfFileSource(Source):
    """``checkpoint.hf`` with ``filename``: one file of a Hub repository."""

    kind, field = "hf_file", "checkpoint.hf"

    def __init__(self, manifest: Manifest, loc: HfLocation | None = None) -> None:
        super().__init__(manifest)
        self.loc = loc or self.checkpoint.hf or HfLocation(repo="x/x")

    def describe(self) -> str:
        rev = f"@{self.loc.revision}" if self.loc.revision else ""
        return f"{self.loc.repo}/{self.loc.filename}{rev} on {hf_endpoint()}"

    def _identity(self) -> str | None:
        return f"hf:{self.loc.repo}@{self.loc.revision or ''}/{self.loc.filename or ''}"

    def advice(self) -> list[Problem]:
        if self.loc.revision is None:
            return [
                self._warn(
                    "checkpoint.hf.revision",
                    "unpinned: the weights can change under you; pin a commit sha",
                    "unpinned_revision",
                )
            ]
        return []

    def locate(self) -> Located | None:
        active = mirror.active()
        if active is not None and (entry := active.find_hf_file(self.loc)) is not None:
            return in_mirror(active, [entry], active.path_of(entry))
        found = hub.cached(self.loc)
        return Located("cached", found) if found is not None else None

    def _fetch(self) -> Path:
        return locations.hf_file(self.loc, self.checkpoint.sha256, self.context())

    def _sibling(self, rel: str, main: Path) -> Path:
        filename = (PurePosixPath(self.loc.filename or "").parent / rel).as_posix()
        revision = hub.commit_of(main, self.loc.filename) or self.loc.revision
        return locations.hf_file(
            HfLocation(repo=self.loc.repo, revision=revision, filename=filename),
            None,
            self.context(),
        )

    def _record(self, path: Path, filename: str, sha: str | None = None) -> WeightsFile:
        commit = hub.commit_of(path, filename) or self.loc.revision or "unknown"
        folder = "files/hf/" + self.loc.repo.replace("/", "--")
        return WeightsFile(
            "hf",
            self.loc.repo,
            filename,
            commit,
            self.loc.revision,
            path,
            self._sha(path, sha),
            f"{folder}/{commit}/{filename}",
        )

    def _files(self, main: Path) -> list[WeightsFile]:
        return [self._record(main, self.loc.filename or main.name, self.checkpoint.sha256)]

    def _side_record(self, rel: str, path: Path, main: Path) -> WeightsFile:
        return self._record(path, (PurePosixPath(self.loc.filename or "").parent / rel).as_posix())


class HfRepoSource(HfFileSource):
    """``checkpoint.hf`` without ``filename``: the files of a repository a loader needs."""

    kind = "hf_repo"

    def describe(self) -> str:
        rev = f"@{self.loc.revision}" if self.loc.revision else ""
        return f"the repository {self.loc.repo}{rev} on {hf_endpoint()}"

    def patterns(self) -> list[str]:
        """The files a transformers load reads: configs, safetensors (pickles when the format says
        so) and, only when remote code is declared, the repository's Python files."""
        found = ["*.json", "*.safetensors", "*.txt"]
        if self.checkpoint.format == "pickle":
            found.append("*.bin")
        if getattr(self.manifest.wrapper, "trust_remote_code", False):
            found.append("*.py")
        return found

    def locate(self) -> Located | None:
        active = mirror.active()
        if (
            active is not None
            and (folder := active.find_folder("hf", self.loc.repo, self.loc.revision)) is not None
        ):
            return in_mirror(active, folder[1], folder[0])
        found = hub.complete_snapshot(self.loc, self.patterns())
        return Located("cached", found) if found is not None else None

    def _fetch(self) -> Path:
        return locations.hf_repo(self.loc, self.patterns(), self.context())

    def _files(self, main: Path) -> list[WeightsFile]:
        return [self._record(f, f.relative_to(main).as_posix()) for f in hub.snapshot_files(main)]
