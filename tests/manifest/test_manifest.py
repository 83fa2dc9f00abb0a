"""The manifest format: valid and invalid examples, error locations, derived properties."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from tests.conftest import INVALID_DIR, VALID_DIR, ManifestFactory, ManifestWriter
from zoo.catalog.parse import parse_manifest, read_manifest
from zoo.errors import ManifestError, ZooError
from zoo.manifest import (
    Checkpoint,
    FunctionWrapper,
    Manifest,
    OnnxWrapper,
    TimmWrapper,
    TorchHubWrapper,
    TransformersWrapper,
)
from zoo.problems import Problem

VALID_FILES = sorted(VALID_DIR.rglob("*.yaml"))
INVALID_FILES = sorted(INVALID_DIR.rglob("*.yaml"))

#: ``file:line:column: field.path: message``
LOCATION = re.compile(
    r"^(?P<file>[^:]+\.yaml):(?P<line>\d+):(?P<column>\d+): (?P<path>[\w.\[\]]+): (?P<msg>.+)$"
)


def _ids(files: list[Path]) -> list[str]:
    return [f"{f.parent.name}/{f.stem}" for f in files]


@dataclass
class Expectation:
    """What an invalid fixture declares in its leading comments."""

    path: str
    substring: str
    line: int | str | None  # an int, None ("none"), or "any" (some line)
    known_bug: str | None


def _expectation(file: Path) -> Expectation:
    directives: dict[str, str] = {}
    for line in file.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].strip().partition(": ")
        if sep:
            directives[key] = value
    path, _, substring = directives["expect"].partition(": ")
    raw_line = directives.get("line", "any")
    line: int | str | None = None if raw_line == "none" else raw_line
    if raw_line not in ("none", "any"):
        line = int(raw_line)
    return Expectation(
        "" if path == "(root)" else path, substring, line, directives.get("known-bug")
    )


def _invalid_params() -> list[Any]:
    params = []
    for file in INVALID_FILES:
        bug = _expectation(file).known_bug
        marks = (
            [pytest.mark.xfail(reason=f"known bug: {bug}", strict=True, raises=AssertionError)]
            if bug
            else []
        )
        params.append(pytest.param(file, id=f"{file.parent.name}/{file.stem}", marks=marks))
    return params


def _problems(raw: bytes | str, file: str = "catalog/testing/tiny_vit.yaml") -> list[Problem]:
    if isinstance(raw, str):
        raw = raw.encode()
    with pytest.raises(ManifestError) as info:
        parse_manifest(raw, file)
    return info.value.problems


def _dump(data: dict[str, Any]) -> bytes:
    return yaml.safe_dump(data, sort_keys=False).encode()


# -- the fixture folders ---------------------------------------------------------------------


def test_fixture_folders_are_big_enough() -> None:
    assert len(VALID_FILES) >= 6
    assert len(INVALID_FILES) >= 20
    wrappers = {yaml.safe_load(f.read_text())["wrapper"]["type"] for f in VALID_FILES}
    assert wrappers == {"timm", "transformers", "onnx", "torchhub", "function", "monai"}


@pytest.mark.parametrize("file", VALID_FILES, ids=_ids(VALID_FILES))
def test_valid_fixture_parses(file: Path) -> None:
    m = read_manifest(file)
    assert m.name == f"{file.parent.name}/{file.stem}"
    assert m.file == file
    assert m.wrapper.type == yaml.safe_load(file.read_text())["wrapper"]["type"]
    # What the manifest dumps is itself a valid manifest describing the same model.
    again = Manifest.model_validate(m.model_dump(mode="json"))
    assert again.model_dump() == m.model_dump()


@pytest.mark.parametrize("file", _invalid_params())
def test_invalid_fixture_reports_expected_problem(file: Path) -> None:
    expected = _expectation(file)
    with pytest.raises(ManifestError) as info:
        read_manifest(file)
    problems = info.value.problems
    assert problems, "a ManifestError carries at least one problem"
    found = [p for p in problems if p.path == expected.path and expected.substring in p.message]
    assert found, f"expected {expected.path!r}: {expected.substring!r}, got:\n{info.value}"
    problem = found[0]
    assert problem.file == str(file)
    assert problem.severity == "error"
    if expected.line is None:
        assert problem.line is None
    elif expected.line == "any":
        assert problem.line is not None
        assert problem.line > 1
    else:
        assert problem.line == expected.line
    if problem.line is not None:
        assert problem.column is not None
        assert problem.column >= 1


def test_every_invalid_fixture_declares_its_expectation() -> None:
    for file in INVALID_FILES:
        lines = file.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# yaml-language-server: $schema="), file
        assert lines[1].startswith("# expect: "), file


# -- error locations -------------------------------------------------------------------------


def test_problem_string_is_file_line_column_path_message(
    tiny_manifest_data: ManifestFactory,
) -> None:
    data = tiny_manifest_data()
    data["output"]["embedding_dim"] = 0
    (problem,) = _problems(_dump(data))
    text = str(problem)
    match = LOCATION.match(text)
    assert match, text
    assert match["file"] == "catalog/testing/tiny_vit.yaml"
    assert match["path"] == "output.embedding_dim"
    assert match["msg"] == "Input should be greater than 0"
    raw_lines = _dump(data).decode().splitlines()
    assert raw_lines[int(match["line"]) - 1].strip() == "embedding_dim: 0"
    assert (
        text == f"{problem.file}:{problem.line}:{problem.column}: {problem.path}: {problem.message}"
    )


def test_problem_location_with_missing_parts() -> None:
    assert Problem("f.yaml", "", "bad").location() == "f.yaml"
    assert str(Problem("f.yaml", "", "bad")) == "f.yaml: bad"
    assert str(Problem("f.yaml", "a.b", "bad", line=3)) == "f.yaml:3: a.b: bad"
    assert str(Problem("f.yaml", "a.b", "bad", line=3, column=7)) == "f.yaml:3:7: a.b: bad"


def test_manifest_error_lists_every_problem(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data()
    data["output"]["embedding_dim"] = 0
    data["input"]["interpolation"] = "lanczos"
    with pytest.raises(ManifestError) as info:
        parse_manifest(_dump(data), "catalog/testing/tiny_vit.yaml")
    exc = info.value
    assert isinstance(exc, ValueError)
    assert isinstance(exc, ZooError)
    assert {p.path for p in exc.problems} == {"output.embedding_dim", "input.interpolation"}
    text = str(exc)
    assert text.startswith("2 problem(s) in manifest:\n")
    body = text.splitlines()[1:]
    assert len(body) == 2
    for line in body:
        assert LOCATION.match(line.strip()), line


def test_single_problem_headline(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data()
    data["gated"] = "sometimes"
    with pytest.raises(ManifestError, match=r"^invalid manifest:\n  .*: gated: ") as info:
        parse_manifest(_dump(data), "catalog/testing/tiny_vit.yaml")
    assert info.value.problems[0].code == "bool_type"
    assert "expected true or false, got the text 'sometimes'" in str(info.value)


def test_discriminated_union_path_names_the_wrapper_type() -> None:
    text = """\
schema_version: 1
name: testing/tiny_vit
wrapper:
  type: transformers
  model_class: 1-bad
input: {size: [224, 224], mean: [0.5], std: [0.5]}
output: {embedding_dim: 8, pooling: none}
"""
    (problem,) = _problems(text)
    assert problem.path == "wrapper.transformers.model_class"
    # The union tag is not a YAML key: the line still points at model_class.
    assert problem.line == 5
    assert problem.column == 16


@pytest.mark.parametrize(
    ("wrapper", "path"),
    [
        ({"type": "timm"}, "wrapper.timm.architecture"),
        ({"type": "torchhub", "repo": "a/b"}, "wrapper.torchhub.entry"),
        ({"type": "function"}, "wrapper.function.path"),
        ({"type": "onnx", "providers": []}, None),  # valid wrapper; no wrapper problem
    ],
)
def test_missing_wrapper_field_paths(
    tiny_manifest_data: ManifestFactory, wrapper: dict[str, Any], path: str | None
) -> None:
    data = tiny_manifest_data(wrapper=wrapper)
    if wrapper["type"] == "onnx":
        data["checkpoint"] = {"path": "model.onnx"}
        data["output"]["feature_levels"] = 0
        assert isinstance(
            parse_manifest(_dump(data), "x/testing/tiny_vit.yaml").wrapper, OnnxWrapper
        )
        return
    problems = _problems(_dump(data))
    assert [p.path for p in problems] == [path]
    assert problems[0].message == "field required"


def test_unknown_wrapper_type_lists_the_known_ones(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data(wrapper={"type": "keras", "architecture": "x"})
    (problem,) = _problems(_dump(data))
    assert problem.path == "wrapper"
    assert problem.code == "union_tag_invalid"
    assert "'keras'" in problem.message
    for kind in ("timm", "transformers", "onnx", "torchhub", "function"):
        assert kind in problem.message


def test_non_utf8_bytes_are_a_manifest_error(tiny_manifest_data: ManifestFactory) -> None:
    raw = _dump(tiny_manifest_data()) + b"# caf\xe9\n"
    (problem,) = _problems(raw, "catalog/testing/tiny_vit.yaml")
    assert problem.code == "encoding"
    assert problem.file == "catalog/testing/tiny_vit.yaml"
    assert "not UTF-8" in problem.message


def test_read_manifest_of_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "testing" / "nothing.yaml"
    with pytest.raises(ManifestError) as info:
        read_manifest(missing)
    (problem,) = info.value.problems
    assert problem.code == "io"
    assert problem.file == str(missing)
    assert "cannot read" in problem.message


def test_name_check_can_be_skipped(tiny_manifest_data: ManifestFactory) -> None:
    raw = _dump(tiny_manifest_data())
    (problem,) = _problems(raw, "somewhere/else.yaml")
    assert problem.code == "name_mismatch"
    assert "expected 'somewhere/else'" in problem.message
    assert parse_manifest(raw, "somewhere/else.yaml", check_name=False).name == "testing/tiny_vit"


# -- cross-field checks ----------------------------------------------------------------------


def test_timm_checkpoint_needs_timm_wrapper(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data(
        wrapper={"type": "function", "path": "mypkg.testing.build"}, checkpoint={"timm": "augreg"}
    )
    (problem,) = _problems(_dump(data))
    assert "checkpoint.timm needs wrapper.type: timm" in problem.message


def test_onnx_feature_levels_need_hidden_states(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data(
        wrapper={"type": "onnx", "hidden_states": ["h0", "h1"]}, checkpoint={"path": "m.onnx"}
    )
    (problem,) = _problems(_dump(data))
    assert (
        "output.feature_levels is 12 but wrapper.hidden_states names 2 outputs" in problem.message
    )


def test_onnx_hf_checkpoint_needs_a_filename(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data(
        wrapper={"type": "onnx", "hidden_states": [f"h{i}" for i in range(12)]},
        checkpoint={"hf": {"repo": "a/b", "revision": "main"}},
    )
    (problem,) = _problems(_dump(data))
    assert "onnx wrapper needs its model file" in problem.message
    data["checkpoint"]["hf"]["filename"] = "model.onnx"
    assert parse_manifest(_dump(data), "x/testing/tiny_vit.yaml").source == "hf"


def test_timm_in_chans_must_match_input_channels(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data()
    data["wrapper"]["kwargs"]["in_chans"] = 1
    (problem,) = _problems(_dump(data))
    assert "wrapper.kwargs.in_chans is 1 but input has 3 channels" in problem.message
    data["input"].update(mean=[0.5], std=[0.5])
    assert parse_manifest(_dump(data), "x/testing/tiny_vit.yaml").input.in_chans == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("same_weights_as", "testing/tiny_vit", "same_weights_as names this entry itself"),
        ("aliases", ["testing/tiny_vit"], "aliases repeat the entry's own name"),
    ],
)
def test_self_references_are_refused(
    tiny_manifest_data: ManifestFactory, field: str, value: Any, message: str
) -> None:
    (problem,) = _problems(_dump(tiny_manifest_data(**{field: value})))
    assert message in problem.message


def test_cross_check_problems_name_a_field(tiny_manifest_data: ManifestFactory) -> None:
    (problem,) = _problems(_dump(tiny_manifest_data(same_weights_as="testing/tiny_vit")))
    assert problem.path == "same_weights_as"


def test_object_error_in_arguments_is_labelled_arguments(
    tiny_manifest_data: ManifestFactory,
) -> None:
    data = tiny_manifest_data(
        wrapper={"type": "function", "path": "mypkg.x.build", "arguments": {"a": {"$object": "x"}}}
    )
    (problem,) = _problems(_dump(data))
    assert problem.message.startswith("arguments.a: ")


def test_object_refs_are_checked_recursively(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data()
    data["wrapper"]["kwargs"]["blocks"] = {"inner": [{"$object": "torch.nn.ReLU"}, {"$object": 3}]}
    (problem,) = _problems(_dump(data))
    assert problem.path == "wrapper.timm.kwargs"
    assert "kwargs.blocks.inner[1]: $object must be a dotted path" in problem.message
    assert "got 3" in problem.message


def test_object_refs_in_torchhub_kwargs(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data(
        wrapper={
            "type": "torchhub",
            "repo": "o/r",
            "entry": "e",
            "kwargs": {"x": {"$object": "a b"}},
        }
    )
    (problem,) = _problems(_dump(data))
    assert problem.path == "wrapper.torchhub.kwargs"
    assert "must be a dotted path" in problem.message


@pytest.mark.parametrize(
    "reserved", ["pretrained", "features_only", "out_indices", "checkpoint_path"]
)
def test_reserved_timm_kwargs(tiny_manifest_data: ManifestFactory, reserved: str) -> None:
    data = tiny_manifest_data()
    data["wrapper"]["kwargs"][reserved] = True
    (problem,) = _problems(_dump(data))
    assert problem.message == f"{reserved} is set by zoo and cannot be given in kwargs"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            {"pooling": "mean", "patch_size": None},
            "pooling mean averages patch tokens: set patch_size",
        ),
        (
            {"pooling": "mean", "embedding_dim": 768},
            "makes embedding_dim the token dim (384), not 768",
        ),
        ({"pooling": "cls+mean", "prefix_tokens": 0, "embedding_dim": 768}, "needs a class token"),
    ],
)
def test_output_consistency(
    tiny_manifest_data: ManifestFactory, output: dict[str, Any], message: str
) -> None:
    data = tiny_manifest_data()
    data["output"].update(output)
    (problem,) = _problems(_dump(data))
    assert problem.path == "output"
    assert message in problem.message


def test_pooler_and_none_do_not_tie_embedding_dim_to_feature_dim(
    tiny_manifest_data: ManifestFactory,
) -> None:
    for pooling in ("pooler", "none"):
        data = tiny_manifest_data()
        data["output"].update(pooling=pooling, embedding_dim=1000, prefix_tokens=0)
        assert parse_manifest(_dump(data), "x/testing/tiny_vit.yaml").output.embedding_dim == 1000


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [("input", "mean", [float("nan"), 0.5, 0.5]), ("metrics", "top1", float("inf"))],
)
def test_non_finite_numbers_are_refused(
    tiny_manifest_data: ManifestFactory, section: str, field: str, value: Any
) -> None:
    data = tiny_manifest_data()
    data.setdefault(section, {})[field] = value
    problems = _problems(_dump(data))
    assert problems[0].path.startswith(section)


# -- properties ------------------------------------------------------------------------------


def test_group_source_and_summary(tiny_manifest_data: ManifestFactory) -> None:
    m = Manifest.model_validate(tiny_manifest_data(aliases=["other/vit_s"]))
    assert m.group == "testing"
    assert m.source == "none"
    assert m.file is None
    assert m.summary() == {
        "name": "testing/tiny_vit",
        "group": "testing",
        "wrapper": "timm",
        "source": "none",
        "embedding_dim": 384,
        "input_size": [224, 224],
        "pooling": "cls",
        "prefix_tokens": 1,
        "patch_size": 16,
        "license": "Apache-2.0",
        "commercial": True,
        "gated": False,
        "tags": ["testing", "vit"],
        "aliases": ["other/vit_s"],
        "same_weights_as": None,
        "kind": "image",
        "pairs_with": [],
    }


def test_summary_names_the_entry_with_the_same_weights(
    tiny_manifest_data: ManifestFactory,
) -> None:
    data = tiny_manifest_data(name="testing/tiny_vit_mean", same_weights_as="testing/tiny_vit")
    assert Manifest.model_validate(data).summary()["same_weights_as"] == "testing/tiny_vit"


def test_summary_without_license(tiny_manifest_data: ManifestFactory) -> None:
    data = tiny_manifest_data()
    del data["license"]
    summary = Manifest.model_validate(data).summary()
    assert summary["license"] is None
    assert summary["commercial"] is None


@pytest.mark.parametrize(
    ("checkpoint", "source"),
    [
        ({"path": "w.safetensors"}, "local"),
        ({"url": "https://example.invalid/w.pth"}, "url"),
        ({"hf": {"repo": "a/b", "filename": "w.bin"}}, "hf"),
        ({"timm": "augreg"}, "timm"),
    ],
)
def test_checkpoint_source(
    tiny_manifest_data: ManifestFactory, checkpoint: dict[str, Any], source: str
) -> None:
    m = Manifest.model_validate(tiny_manifest_data(checkpoint=checkpoint))
    assert m.source == source
    assert m.checkpoint is not None
    assert m.checkpoint.source == source
    assert m.summary()["source"] == source


def test_checkpoint_defaults() -> None:
    ckpt = Checkpoint.model_validate({"path": "w.safetensors"})
    assert (ckpt.format, ckpt.key, ckpt.strict, ckpt.sha256) == ("auto", None, True, None)
    assert ckpt.remap.strip_prefix == []
    assert ckpt.remap.rename == {}
    assert ckpt.remap.drop == []


def test_in_chans_defaults_to_len_mean(tiny_manifest_data: ManifestFactory) -> None:
    m = Manifest.model_validate(tiny_manifest_data())
    assert m.input.in_chans == 3
    assert m.input.channels is None


def test_manifest_is_immutable(tiny_manifest_data: ManifestFactory) -> None:
    m = Manifest.model_validate(tiny_manifest_data())
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        m.name = "testing/other"  # type: ignore[misc]


def test_with_file_records_the_source(tmp_path: Path, tiny_manifest_data: ManifestFactory) -> None:
    m = Manifest.model_validate(tiny_manifest_data())
    assert m.with_file(tmp_path / "x.yaml") is m
    assert m.file == tmp_path / "x.yaml"


def test_wrapper_models_by_type(write_manifest: ManifestWriter, tmp_path: Path) -> None:
    expected = {
        "testing/timm_vit_small_random": TimmWrapper,
        "testing/transformers_vit_inline": TransformersWrapper,
        "testing/onnx_local_file": OnnxWrapper,
        "testing/torchhub_local_repo": TorchHubWrapper,
        "testing/function_resnet_url": FunctionWrapper,
    }
    for name, cls in expected.items():
        m = read_manifest(VALID_DIR / f"{name}.yaml")
        assert type(m.wrapper) is cls, name


def test_valid_fixture_details() -> None:
    fn = read_manifest(VALID_DIR / "testing/function_resnet_url.yaml")
    assert fn.source == "url"
    assert fn.aliases == ["other/resnet50_fixture"]
    assert fn.wrapper.arguments["norm_layer"] == {"$object": "torch.nn.BatchNorm2d"}  # type: ignore[union-attr]
    assert fn.checkpoint is not None
    assert fn.checkpoint.remap.strip_prefix == ["module.", "backbone."]
    assert fn.output.feature_dim == [256, 512, 1024, 2048]

    hub = read_manifest(VALID_DIR / "testing/torchhub_local_repo.yaml")
    assert hub.source == "none"
    assert hub.input.in_chans == 1
    assert isinstance(hub.wrapper, TorchHubWrapper)
    assert hub.wrapper.source == "local"

    onnx = read_manifest(VALID_DIR / "testing/onnx_local_file.yaml")
    assert onnx.source == "local"
    assert isinstance(onnx.wrapper, OnnxWrapper)
    assert onnx.wrapper.hidden_states == ["hidden_0", "hidden_1"]

    tf = read_manifest(VALID_DIR / "testing/transformers_vit_inline.yaml")
    assert tf.source == "hf"
    assert tf.gated
    assert isinstance(tf.wrapper, TransformersWrapper)
    assert tf.wrapper.config["model_type"] == "vit"

    histo = read_manifest(VALID_DIR / "testing_histo/timm_hf_registers.yaml")
    assert histo.group == "testing_histo"
    assert histo.checkpoint is not None
    assert histo.checkpoint.hf is not None
    assert histo.checkpoint.hf.filename == "pytorch_model.bin"
    assert histo.license is not None
    assert histo.license.commercial is False
    assert histo.precision.default == "bfloat16"


def test_numbers_accept_integers_but_integers_refuse_anything_else(
    tiny_manifest_data: ManifestFactory,
) -> None:
    data = tiny_manifest_data()
    data["input"].update(crop_pct=1, mean=[0, 0, 0], std=[1, 1, 1])
    data["metrics"] = {"params_m": 22, "imagenet_top1": 81.4}
    m = parse_manifest(_dump(data), "catalog/testing/tiny_vit.yaml")
    assert (m.input.crop_pct, m.input.std, m.metrics["params_m"]) == (1.0, [1.0, 1.0, 1.0], 22.0)
    for field, value, got in [
        ("embedding_dim", "384", "the text '384'"),
        ("prefix_tokens", True, "the boolean true"),
        ("patch_size", 16.0, "the number 16.0"),
    ]:
        bad = tiny_manifest_data()
        bad["output"][field] = value
        (problem,) = _problems(_dump(bad))
        assert problem.path == f"output.{field}"
        assert problem.message.startswith(f"expected an integer, got {got}")
        assert problem.line is not None
