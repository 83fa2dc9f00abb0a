"""The committed JSON Schema: fresh, deterministic, documented, and agreeing with pydantic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.conftest import INVALID_DIR, REPO_ROOT, VALID_DIR, CliRunner
from zoo.catalog.parse import read_manifest
from zoo.catalog.roots import bundled_root
from zoo.manifest import Manifest, schema_text

SCHEMA_FILE = REPO_ROOT / "schemas" / "manifest.schema.json"
BUNDLED_FILES = sorted(bundled_root().rglob("*.yaml"))
VALID_FILES = sorted(VALID_DIR.rglob("*.yaml"))


def _ids(files: list[Path]) -> list[str]:
    return [f"{f.parent.name}/{f.stem}" for f in files]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_committed_schema_is_fresh() -> None:
    assert SCHEMA_FILE.is_file(), (
        "schemas/manifest.schema.json is missing: run `zoo schema --write`"
    )
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "schemas/manifest.schema.json is stale: run `zoo schema --write` and commit the result"
    )


def test_schema_is_deterministic() -> None:
    first, second = schema_text(), schema_text()
    assert first == second
    assert first.endswith("}\n")
    assert not first.endswith("\n\n")
    # Sorted keys and two-space indent: re-serialising changes nothing.
    assert (
        json.dumps(json.loads(first), indent=2, sort_keys=True, ensure_ascii=False) + "\n" == first
    )


def test_schema_header(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/manifest.schema.json")
    assert schema["title"] == "zoo manifest"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"schema_version", "name", "wrapper", "input", "output"}


def test_schema_properties_are_the_model_fields(schema: dict[str, Any]) -> None:
    assert set(schema["properties"]) == set(Manifest.model_fields)


def _objects(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("Manifest", schema), *sorted(schema["$defs"].items())]


def test_every_field_has_a_description(schema: dict[str, Any]) -> None:
    undocumented = []
    count = 0
    for name, definition in _objects(schema):
        if "description" not in definition:
            undocumented.append(name)
        for field, spec in definition.get("properties", {}).items():
            count += 1
            if not str(spec.get("description", "")).strip():
                undocumented.append(f"{name}.{field}")
    assert count > 50  # the walk really visited the nested models
    assert not undocumented, f"fields without a description: {undocumented}"


def test_every_definition_forbids_unknown_keys(schema: dict[str, Any]) -> None:
    for name, definition in _objects(schema):
        if definition.get("type") == "object" and "properties" in definition:
            assert definition.get("additionalProperties") is False, name


def test_wrapper_is_a_discriminated_union(schema: dict[str, Any]) -> None:
    wrapper = schema["properties"]["wrapper"]
    assert wrapper["discriminator"]["propertyName"] == "type"
    assert set(wrapper["discriminator"]["mapping"]) == {
        "timm",
        "transformers",
        "onnx",
        "torchhub",
        "function",
        "monai",
        "open_clip",
    }


def _load_yaml(file: Path) -> Any:
    return yaml.safe_load(file.read_text(encoding="utf-8"))


@pytest.mark.parametrize("file", BUNDLED_FILES, ids=_ids(BUNDLED_FILES))
def test_bundled_manifest_is_valid(file: Path, validator: Draft202012Validator) -> None:
    errors = sorted(validator.iter_errors(_load_yaml(file)), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    assert read_manifest(file).name == f"{file.parent.name}/{file.stem}"


def test_bundled_catalogue_is_not_empty() -> None:
    assert BUNDLED_FILES, f"no manifest under {bundled_root()}"


@pytest.mark.parametrize("file", VALID_FILES, ids=_ids(VALID_FILES))
def test_valid_fixture_matches_json_schema(file: Path, validator: Draft202012Validator) -> None:
    errors = list(validator.iter_errors(_load_yaml(file)))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    read_manifest(file)


@pytest.mark.parametrize(
    ("stem", "where"),
    [
        ("unknown_top_level_key", []),
        ("unknown_nested_key", ["input"]),
        ("wrapper_type_unknown", ["wrapper"]),
        ("timm_architecture_missing", ["wrapper"]),
        ("checkpoint_bad_sha256", ["checkpoint"]),  # anyOf [Checkpoint, null]
        ("output_zero_embedding_dim", ["output", "embedding_dim"]),
        ("schema_version_2", ["schema_version"]),
        ("name_uppercase", ["name"]),
        # YAML's types count: a quoted number or a boolean is not an integer in either (16.0 is
        # an integer to JSON Schema, so output_patch_size_float is pydantic's alone)
        ("output_embedding_dim_quoted", ["output", "embedding_dim"]),
        ("output_prefix_tokens_yes", ["output", "prefix_tokens"]),
        ("output_feature_levels_true", ["output", "feature_levels"]),
        ("output_feature_dim_list_quoted", ["output", "feature_dim"]),
        ("input_size_quoted", ["input", "size", 0]),
        ("input_crop_pct_quoted", ["input", "crop_pct"]),
        ("input_mean_boolean", ["input", "mean", 1]),
        ("schema_version_true", ["schema_version"]),
        ("license_commercial_quoted", ["license"]),  # anyOf [License, null]
    ],
)
def test_json_schema_refuses_what_pydantic_refuses(
    stem: str, where: list[str], validator: Draft202012Validator
) -> None:
    errors = list(validator.iter_errors(_load_yaml(INVALID_DIR / "invalid" / f"{stem}.yaml")))
    assert errors
    assert any(list(e.absolute_path)[: len(where)] == where for e in errors), [
        (list(e.absolute_path), e.message) for e in errors
    ]


@pytest.mark.parametrize(
    ("name", "revision", "refused"),
    [
        ("model.safetensors", "main", False),
        ("sub/x.safetensors", "0123456789abcdef0123456789abcdef01234567", False),
        ("../../../../tmp/x/id_rsa", "main", True),
        ("/home/user/.ssh/id_ed25519", "main", True),
        ("sub\\..\\..\\x", "main", True),
        ("a//b", "main", True),
        ("model.safetensors", "../../x", True),
        ("model.safetensors", "refs/pr/1", True),
    ],
)
def test_hub_file_names_and_revisions_agree_with_pydantic(
    name: str, revision: str, refused: bool, validator: Draft202012Validator
) -> None:
    data = _load_yaml(VALID_FILES[0])
    data["checkpoint"] = {"hf": {"repo": "owner/model", "revision": revision, "filename": name}}
    assert bool(list(validator.iter_errors(data))) == refused
    try:
        Manifest.model_validate(data)
    except ValueError:
        assert refused
    else:
        assert not refused


# -- `zoo schema` ----------------------------------------------------------------------------


def test_schema_check_passes_on_the_committed_file(run_cli: CliRunner) -> None:
    code, out, err = run_cli("schema", "--check")
    assert code == 0, err
    assert "is up to date" in err
    assert out == ""


def test_schema_check_with_fresh_path(run_cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    target.write_text(schema_text(), encoding="utf-8")
    code, _, err = run_cli("schema", "--check", "--path", target)
    assert code == 0
    assert f"{target} is up to date" in err


def test_schema_check_fails_on_stale_file(run_cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    target.write_text(schema_text().replace("Wrapper type.", "Wrapper kind."), encoding="utf-8")
    code, out, err = run_cli("schema", "--check", "--path", target)
    assert code == 1
    assert out == ""
    assert f"{target} is stale" in err
    assert "zoo schema --write" in err


def test_schema_check_fails_on_missing_file(run_cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "none" / "schema.json"
    code, _, err = run_cli("schema", "--check", "--path", target)
    assert code == 1
    assert "is missing" in err
    assert "zoo schema --write" in err


def test_schema_write_then_check(run_cli: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "out" / "schema.json"
    code, _, err = run_cli("schema", "--write", "--path", target)
    assert code == 0
    assert f"wrote {target}" in err
    assert target.read_text(encoding="utf-8") == schema_text()
    assert run_cli("schema", "--check", "--path", target)[0] == 0


def test_schema_prints_to_stdout(run_cli: CliRunner) -> None:
    code, out, _ = run_cli("schema")
    assert code == 0
    assert out == schema_text()
