"""Validation of manifest files: per-file problems, advice, and cross-catalogue checks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from zoo.catalog.pairing import pairing_problems
from zoo.catalog.parse import parse_manifest, read_bytes, read_manifest
from zoo.catalog.roots import default_roots, manifest_files, manifest_relative
from zoo.errors import ManifestError
from zoo.manifest import Manifest
from zoo.problems import Problem

WARNING = "warning"
#: A warning the manifest declares in ``known_gaps``, with its reason: shown, never blocking.
KNOWN = "known"


class WeightsRules(Protocol):
    """What validation asks the weights layer (:mod:`zoo.weights.sources` implements it).

    Passed in rather than imported: the catalogue sits below the weights layer in the house,
    and every checkpoint-kind decision belongs to the weights layer's one dispatch.
    """

    def identity(self, manifest: Manifest, /) -> str | None:
        """A string equal for two manifests that declare the same weights."""
        ...

    def advice(self, manifest: Manifest, /) -> list[Problem]:
        """Problems of a manifest's checkpoint declaration (unpinned, unverifiable, escaping)."""
        ...


#: A comment line that marks something left to fill in (``zoo new`` writes them).
TODO_LINE = re.compile(r"^\s*#\s*TODO\b:?\s*(?P<text>.*)$")


@dataclass
class Report:
    """The outcome of validating a set of manifest files."""

    files: list[Path] = field(default_factory=list)
    manifests: list[Manifest] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    base: str | None = None
    """With ``--changed``: the git ref the files were compared against."""
    deleted: list[Path] = field(default_factory=list)
    """With ``--changed``: manifests deleted since the base (not checked)."""

    def errors(self, *, strict: bool = False) -> list[Problem]:
        """Problems that block: errors, plus warnings when ``strict`` (known gaps never)."""
        return [
            p
            for p in self.problems
            if p.severity not in (WARNING, KNOWN) or (strict and p.severity == WARNING)
        ]

    def ok(self, *, strict: bool = False) -> bool:
        """True when nothing blocks."""
        return not self.errors(strict=strict)

    def by_file(self) -> dict[str, list[Problem]]:
        """Problems grouped by file, files in the order they were read."""
        grouped: dict[str, list[Problem]] = {str(f): [] for f in self.files}
        for problem in self.problems:
            grouped.setdefault(problem.file, []).append(problem)
        for problems in grouped.values():
            problems.sort(key=lambda p: (p.line or 0, p.column or 0))
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
    wrapper = m.wrapper
    if getattr(wrapper, "type", "") == "torchhub" and getattr(wrapper, "source", "") == "local":
        repo = str(getattr(wrapper, "repo", ""))
        if Path(repo).expanduser().is_absolute():
            found.append(
                _warn(
                    m,
                    "wrapper.repo",
                    "an absolute hubconf folder only exists on your machine, and its code runs at "
                    "load time (with --trust-remote-code): keep it inside the catalogue",
                    "absolute_path",
                )
            )
        elif m.file is not None and not manifest_relative(m.file, repo)[1]:
            found.append(
                Problem(
                    str(m.file),
                    "wrapper.repo",
                    "a relative hubconf folder must stay inside the catalogue root (no `..` or "
                    "symlink out of it); use an absolute path to point elsewhere",
                    code="path_escape",
                )
            )
    return found


def known_gaps(m: Manifest, advised: list[Problem]) -> list[Problem]:
    """The warnings with the manifest's ``known_gaps`` applied: a declared gap turns its warning
    into a known one that carries the reason; a gap that draws no warning is an error (the
    manifest was fixed, or the gap names the wrong field)."""
    gaps: dict[str, str] = {str(k): v for k, v in m.known_gaps.items()}
    found = []
    for p in advised:
        reason = gaps.get(p.path) if p.severity == WARNING else None
        if reason is None:
            found.append(p)
        else:
            message = f"{p.message} (known gap: {reason})"
            found.append(replace(p, message=message, severity=KNOWN))
    warned = {p.path for p in advised if p.severity == WARNING}
    for path in gaps:
        if path not in warned:
            found.append(
                Problem(
                    str(m.file),
                    f"known_gaps.{path}",
                    f"{path} draws no warning, so there is no gap to explain: remove this entry",
                    code="stale_gap",
                )
            )
    return found


def todo_markers(file: str, text: str) -> list[Problem]:
    """A warning for every ``# TODO`` comment line left in a manifest's text."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = TODO_LINE.match(line)
        if match:
            what = match["text"].strip() or "fill this in"
            found.append(
                Problem(
                    file,
                    "",
                    f"TODO left: {what}",
                    number,
                    line.index("#") + 1,
                    severity=WARNING,
                    code="todo",
                )
            )
    return found


def cross_checks(manifests: Sequence[Manifest], weights: WeightsRules) -> list[Problem]:
    """Problems that only show across files: duplicate names or aliases, undeclared shared weights,
    slide encoders paired with unknown or mismatched patch encoders (:mod:`zoo.catalog.pairing`)."""
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
        key = weights.identity(m)
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
    return problems + pairing_problems(manifests)


def _key(path: str | Path | None) -> Path:
    return Path(path or "").resolve()


def validate_files(
    files: Iterable[Path], *, weights: WeightsRules, context: Sequence[Manifest] = ()
) -> Report:
    """Validate manifest files.

    Args:
        files: The files to check.
        weights: The weights layer's rules (:mod:`zoo.weights.sources`).
        context: Other valid manifests (e.g. the rest of the catalogue) included in
            the cross-catalogue checks, without being reported on themselves.
    """
    report = Report(files=list(files))
    for file in report.files:
        try:
            raw = read_bytes(file)
            m = parse_manifest(raw, file)
        except ManifestError as exc:
            report.problems.extend(exc.problems)
            continue
        report.manifests.append(m)
        advised = advice(m) + weights.advice(m)
        report.problems.extend(known_gaps(m, advised))
        # A TODO about a field that already draws a warning would say the same thing twice.
        fields = {p.path.split(".")[0] for p in advised}
        report.problems.extend(
            p
            for p in todo_markers(str(file), raw.decode("utf-8", errors="replace"))
            if p.message.removeprefix("TODO left: ").split(":")[0] not in fields
        )
    checked = {_key(m.file) for m in report.manifests}
    # The context comes first: a clash between a checked file and the rest of the
    # catalogue is then reported on the checked file (cross_checks blames the later one).
    everyone = [m for m in context if _key(m.file) not in checked] + list(report.manifests)
    report.problems.extend(p for p in cross_checks(everyone, weights) if _key(p.file) in checked)
    return report


def catalogue_manifests(roots: Iterable[Path], *, exclude: Iterable[Path] = ()) -> list[Manifest]:
    """Every valid manifest under the roots, except the files in ``exclude``."""
    seen = {_key(p) for p in exclude}
    found = []
    for file in manifest_files(roots):
        if _key(file) in seen:
            continue
        seen.add(_key(file))
        try:
            found.append(read_manifest(file))
        except ManifestError:
            continue  # reported when that file itself is validated
    return found


def validate_paths(paths: Sequence[str | Path] = (), *, weights: WeightsRules) -> Report:
    """Validate the manifests under files or folders (default: every catalogue root).

    Files given by path are also checked against every catalogue root (the
    bundled catalogue and ``ZOO_CATALOG_PATH``) for clashing names, aliases and weights.
    """
    if not paths:
        return validate_files(manifest_files(default_roots()), weights=weights)
    files = manifest_files(Path(p) for p in paths)
    return validate_files(
        files, weights=weights, context=catalogue_manifests(default_roots(), exclude=files)
    )


def _shown(path: Path, cwd: Path) -> Path:
    """``path`` relative to ``cwd`` when it lies below it (as git and GitHub show paths)."""
    try:
        return path.relative_to(cwd)
    except ValueError:
        return path


def validate_changed(
    paths: Sequence[str | Path] = (),
    *,
    weights: WeightsRules,
    base: str | None = None,
    cwd: Path | None = None,
) -> Report:
    """Validate only the manifests changed since a git ref; cross-check them against all.

    Args:
        paths: Catalogue roots (folders) or files that count (default: every catalogue root).
            A changed ``*.yaml`` outside them is ignored.
        base: The git ref to compare with (default: see :func:`zoo.catalog._git.resolve_base`).
        cwd: A folder inside the git work tree (default: the current directory).

    Raises:
        GitError: Not a git repository, or an unknown ref.
    """
    from zoo.catalog import _git

    here = Path.cwd() if cwd is None else cwd
    roots = [Path(p) for p in paths] if paths else default_roots()
    changes = _git.changes_since(base, here)
    scope = [_key(r) for r in roots]
    shown_from = Path.cwd().resolve()  # paths are shown (and read) relative to it

    def in_scope(path: Path) -> bool:
        return path.name.endswith(".yaml") and any(
            path == r or path.is_relative_to(r) for r in scope
        )

    files = [_shown(p, shown_from) for p in changes.changed if in_scope(p) and p.is_file()]
    everywhere = [*roots, *default_roots()] if paths else roots
    report = validate_files(
        files, weights=weights, context=catalogue_manifests(everywhere, exclude=files)
    )
    report.base = changes.base
    report.deleted = [
        _shown(p, shown_from) for p in changes.deleted if in_scope(p) and not p.exists()
    ]
    return report
