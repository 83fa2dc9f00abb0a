"""Validation of manifest files: per-file problems, advice, and cross-catalogue checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from zoo.catalog import default_roots, manifest_files, read_manifest
from zoo.errors import ManifestError, Problem
from zoo.manifest import Manifest

WARNING = "warning"


@dataclass
class Report:
    """The outcome of validating a set of manifest files."""

    files: list[Path] = field(default_factory=list)
    manifests: list[Manifest] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def errors(self, *, strict: bool = False) -> list[Problem]:
        """Problems that block: errors, plus warnings when ``strict``."""
        return [p for p in self.problems if strict or p.severity != WARNING]

    def ok(self, *, strict: bool = False) -> bool:
        """True when nothing blocks."""
        return not self.errors(strict=strict)

    def by_file(self) -> dict[str, list[Problem]]:
        """Problems grouped by file, files in the order they were read."""
        grouped: dict[str, list[Problem]] = {str(f): [] for f in self.files}
        for problem in self.problems:
            grouped.setdefault(problem.file, []).append(problem)
        return grouped


def _warn(m: Manifest, path: str, message: str, code: str) -> Problem:
    return Problem(str(m.file), path, message, severity=WARNING, code=code)


def advice(m: Manifest) -> list[Problem]:
    """Warnings: things a reviewer would ask for, that do not make the manifest wrong."""
    found = []
    if not m.description.strip():
        found.append(
            _warn(
                m,
                "description",
                "no description: say what the model is and which embedding it returns",
                "no_description",
            )
        )
    if m.license is None:
        found.append(
            _warn(
                m,
                "license",
                "no license: users need to know whether they may use the weights",
                "no_license",
            )
        )
    if m.paper is None and m.checkpoint is not None:
        found.append(
            _warn(m, "paper", "no paper: cite the publication (or the model card)", "no_paper")
        )
    ckpt = m.checkpoint
    if ckpt is not None:
        if ckpt.hf is not None and ckpt.hf.revision is None:
            found.append(
                _warn(
                    m,
                    "checkpoint.hf.revision",
                    "unpinned: the weights can change under you; pin a commit sha",
                    "unpinned_revision",
                )
            )
        if ckpt.url is not None and ckpt.sha256 is None:
            found.append(
                _warn(
                    m,
                    "checkpoint.sha256",
                    "no sha256: the download cannot be verified",
                    "no_sha256",
                )
            )
    return found


def _weights_key(m: Manifest) -> str | None:
    ckpt = m.checkpoint
    if ckpt is None:
        return None
    if ckpt.sha256:
        return f"sha256:{ckpt.sha256}"
    if ckpt.hf is not None:
        return f"hf:{ckpt.hf.repo}@{ckpt.hf.revision or ''}/{ckpt.hf.filename or ''}"
    if ckpt.url is not None:
        return f"url:{ckpt.url}"
    if ckpt.timm is not None:
        arch = getattr(m.wrapper, "architecture", "")
        return f"timm:{arch}.{ckpt.timm}"
    return None


def cross_checks(manifests: Sequence[Manifest]) -> list[Problem]:
    """Problems that only show across files: duplicate names or aliases, undeclared shared weights."""
    problems: list[Problem] = []
    claimed: dict[str, Manifest] = {}
    for m in manifests:
        for claim in (m.name, *m.aliases):
            if claim in claimed:
                other = claimed[claim]
                problems.append(
                    Problem(
                        str(m.file),
                        "name" if claim == m.name else "aliases",
                        f"{claim!r} is already claimed by {other.file}",
                        code="duplicate_name",
                    )
                )
            else:
                claimed[claim] = m
    names = {m.name for m in manifests}
    by_weights: dict[str, Manifest] = {}
    for m in manifests:
        if m.same_weights_as is not None and m.same_weights_as not in names:
            problems.append(
                Problem(
                    str(m.file),
                    "same_weights_as",
                    f"no entry named {m.same_weights_as!r}",
                    code="unknown_reference",
                )
            )
        key = _weights_key(m)
        if key is None:
            continue
        first = by_weights.setdefault(key, m)
        if first is not m and m.same_weights_as != first.name and first.same_weights_as != m.name:
            problems.append(
                Problem(
                    str(m.file),
                    "checkpoint",
                    f"declares the same weights as {first.name} ({first.file}); if that is intended, "
                    f"add same_weights_as: {first.name}",
                    code="duplicate_weights",
                )
            )
    return problems


def validate_files(files: Iterable[Path], *, context: Sequence[Manifest] = ()) -> Report:
    """Validate manifest files.

    Args:
        files: The files to check.
        context: Other valid manifests (e.g. the rest of the catalogue) included in
            the cross-catalogue checks, without being reported on themselves.
    """
    report = Report(files=list(files))
    for file in report.files:
        try:
            m = read_manifest(file)
        except ManifestError as exc:
            report.problems.extend(exc.problems)
            continue
        report.manifests.append(m)
        report.problems.extend(advice(m))
    checked = {str(m.file) for m in report.manifests}
    everyone = list(report.manifests) + [m for m in context if str(m.file) not in checked]
    report.problems.extend(p for p in cross_checks(everyone) if p.file in checked)
    return report


def validate_paths(paths: Sequence[str | Path] = ()) -> Report:
    """Validate the manifests under files or folders (default: every catalogue root)."""
    roots = [Path(p) for p in paths] if paths else default_roots()
    return validate_files(manifest_files(roots))


def build_checks(
    report: Report, *, trust_remote_code: bool = False, progress: bool = False
) -> None:
    """Build every valid manifest of the report and add the contract problems found (imports torch)."""
    import sys

    from zoo.verify import check_build

    for m in report.manifests:
        result = check_build(m, trust_remote_code=trust_remote_code)
        report.problems.extend(result.problems)
        if result.skipped:
            report.problems.append(
                Problem(
                    str(m.file),
                    "",
                    f"build skipped: {result.skipped}",
                    severity=WARNING,
                    code="build_skipped",
                )
            )
        if progress:
            state = "skipped" if result.skipped else ("ok" if result.ok else "FAILED")
            sys.stderr.write(f"build {state:7} {m.name} ({result.device}, {result.seconds:.2f}s)\n")
