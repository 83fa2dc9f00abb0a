"""CLI and Python agree: one dtype parser, keyword typos caught, environment overrides said aloud."""

from __future__ import annotations

import json
import logging
from typing import Any

import click
import pytest
import torch

import zoo
from tests.conftest import CliRunner
from zoo.cli._params import DtypeParam
from zoo.errors import ArgumentError, ModelNotFoundError, OutIndicesError, UsageError
from zoo.loading.dtypes import dtype_name, torch_dtype

TINY = "universal/vit_tiny_patch16_224_random"

# -- dtype names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("float32", "float32"),
        ("fp32", "float32"),
        ("float", "float32"),
        ("FP32", "float32"),
        ("bfloat16", "bfloat16"),
        ("bf16", "bfloat16"),
        (" BF16 ", "bfloat16"),
        ("torch.bfloat16", "bfloat16"),
        (torch.bfloat16, "bfloat16"),
        ("float16", "float16"),
        ("fp16", "float16"),
        ("half", "float16"),
        ("16", "float16"),
        (torch.float16, "float16"),
        (torch.float32, "float32"),
        (None, None),
    ],
    ids=repr,
)
def test_dtype_names(value: Any, name: str | None) -> None:
    assert dtype_name(value) == name
    assert torch_dtype(value) == (getattr(torch, name) if name else None)
    if isinstance(value, str):  # the command line parses the same strings to the same names
        assert DtypeParam().convert(value, None, None) == name


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("bfloat", "did you mean 'bfloat16'"),
        ("bf61", "did you mean 'bfloat16'"),
        ("float64", "did you mean 'float16'"),
        (torch.float64, "did you mean"),
        ("int8", ""),
        ("", ""),
    ],
    ids=repr,
)
def test_bad_dtype_names(value: Any, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        dtype_name(value)
    message = str(info.value)
    assert hint in message
    assert "use one of float32, bfloat16, float16" in message
    if isinstance(value, str):
        with pytest.raises(click.BadParameter) as cli:
            DtypeParam().convert(value, None, None)
        assert cli.value.message == message  # the CLI says exactly what Python says


def test_every_accepted_name_loads(run_cli: CliRunner) -> None:
    for alias in ("bf16", "half"):
        model = zoo.load(TINY, pretrained=False, dtype=alias)
        assert model.dtype == getattr(torch, dtype_name(alias) or "")
    code, out, err = run_cli("load", TINY, "--random-init", "--dtype", "bf16", "--json")
    assert code == 0, err
    assert json.loads(out)["dtype"] == "bfloat16"
    code, _, err = run_cli("load", TINY, "--random-init", "--dtype", "bfloat")
    assert code == 2
    assert "did you mean 'bfloat16'" in err


# -- keyword typos -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("out_indice", "out_indices"),
        ("outindices", "out_indices"),
        ("pretrianed", "pretrained"),
        ("pretrainde", "pretrained"),
        ("dtpye", "dtype"),
        ("trust_remote_cod", "trust_remote_code"),
        ("devcie", "device"),
    ],
)
@pytest.mark.parametrize("entry", ["zoo.load", "Catalog.load", "load_manifest", "zoo.Backbone"])
def test_misspelt_keywords_get_did_you_mean(entry: str, typo: str, meant: str) -> None:
    calls = {
        "zoo.load": lambda **kw: zoo.load(TINY, **kw),
        "Catalog.load": lambda **kw: zoo.Catalog().load(TINY, **kw),
        "load_manifest": lambda **kw: zoo.load_manifest(zoo.Catalog().get(TINY), **kw),
        "zoo.Backbone": lambda **kw: zoo.Backbone(TINY, **kw),
    }
    with pytest.raises(
        ArgumentError, match=f"unexpected keyword argument '{typo}'; did you mean '{meant}'"
    ) as info:
        calls[entry](**{typo: 2})
    assert isinstance(info.value, TypeError)  # what Python says for an unexpected keyword


@pytest.mark.parametrize(
    ("typo", "meant", "entry"),
    [
        ("mirorr", "mirror", "Catalog.load"),
        ("use_evn", "use_env", "zoo.Backbone"),
        ("model_kwarg", "model_kwargs", "zoo.Backbone"),
    ],
)
def test_each_entry_knows_its_own_keywords(typo: str, meant: str, entry: str) -> None:
    call = (
        (lambda **kw: zoo.Catalog().load(TINY, **kw))
        if entry == "Catalog.load"
        else (lambda **kw: zoo.Backbone(TINY, **kw))
    )
    with pytest.raises(ArgumentError, match=f"did you mean '{meant}'"):
        call(**{typo: 1})


@pytest.mark.parametrize(
    "override", ["img_size", "dynamic_img_size", "drop_path_rate", "pretrained_cfg"]
)
def test_builder_overrides_are_not_taken_for_typos(override: str) -> None:
    from zoo.loading.api import LOAD_KEYWORDS
    from zoo.loading.kwargs import check_overrides

    assert check_overrides({override: 1}, LOAD_KEYWORDS, "here") is None  # nothing raised


# -- out_indices the same way from Python, the CLI and the environment ----------------------------


def test_out_indices_minus_one_hints_a_list(run_cli: CliRunner) -> None:
    with pytest.raises(OutIndicesError, match=r"pass a list: out_indices=\[-1\]"):
        zoo.load(TINY, pretrained=False, out_indices=-1)
    code, _, err = run_cli("load", TINY, "--random-init", "--out-indices=-1")
    assert code == 2  # a usage error, as on the command line any bad argument is
    assert "out_indices=[-1]" in err
    with pytest.raises(OutIndicesError, match="give each block once"):
        zoo.load(TINY, pretrained=False, out_indices=(1, 1))
    assert len(zoo.load(TINY, pretrained=False, out_indices=[-1])(torch.rand(1, 3, 224, 224))) == 1


# -- environment overrides --------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["ZOO_MODEL", "MODEL_NAME"])
def test_name_from_the_environment_is_logged_at_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str
) -> None:
    monkeypatch.setenv(variable, TINY)
    with caplog.at_level(logging.WARNING, logger="zoo"):
        model = zoo.Backbone("universal/vit_small_patch16_224_random", pretrained=False)
    assert model.name == TINY
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{variable}={TINY}" in record.getMessage()
    assert "replaces name='universal/vit_small_patch16_224_random'" in record.getMessage()


@pytest.mark.parametrize("variable", ["ZOO_OUT_INDICES", "OUT_INDICES"])
def test_out_indices_from_the_environment_is_logged_at_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str
) -> None:
    monkeypatch.setenv(variable, "[-1]")
    with caplog.at_level(logging.WARNING, logger="zoo"):
        zoo.Backbone(TINY, out_indices=2, pretrained=False)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{variable}=[-1] replaces out_indices=2" in m for m in messages)


def test_same_value_from_the_environment_is_not_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ZOO_MODEL", TINY)
    with caplog.at_level(logging.WARNING, logger="zoo"):
        zoo.Backbone(TINY, pretrained=False)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_errors_caused_by_the_environment_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_NAME", "universal/vit_tiny_patch16_224_randm")
    with pytest.raises(ModelNotFoundError) as info:
        zoo.Backbone(TINY, pretrained=False)
    assert "the name came from the environment variable MODEL_NAME" in str(info.value)
    assert "Did you mean 'universal/vit_tiny_patch16_224_random'" in str(info.value)
    monkeypatch.delenv("MODEL_NAME")
    monkeypatch.setenv("OUT_INDICES", "13")
    with pytest.raises(
        OutIndicesError, match="out_indices came from the environment variable OUT_INDICES"
    ):
        zoo.Backbone(TINY, pretrained=False)
    # Without the environment the same mistake says nothing about it.
    with pytest.raises(OutIndicesError) as plain:
        zoo.Backbone(TINY, out_indices=13, pretrained=False, use_env=False)
    assert "environment" not in str(plain.value)
