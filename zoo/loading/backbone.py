"""``zoo.Backbone``: a catalogue model as an ``nn.Module`` built from its constructor arguments.

Made for config files (jsonargparse / LightningCLI ``class_path`` + ``init_args``),
exactly where eva's ``ModelFromRegistry`` goes::

    backbone:
      class_path: zoo.Backbone
      init_args:
        name: pathology/kaiko_vits16
        out_indices: 1
        model_kwargs: {dynamic_img_size: true}

Environment variables override the arguments, so one config runs any model
unchanged: ``ZOO_MODEL`` (else eva's ``MODEL_NAME``) replaces ``name`` and
``ZOO_OUT_INDICES`` (else eva's ``OUT_INDICES``) replaces ``out_indices``. Pass
``use_env=False`` to ignore them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from zoo import settings
from zoo.errors import UsageError, ZooError
from zoo.loading.indices import parse_out_indices
from zoo.loading.kwargs import check_overrides
from zoo.loading.model import ZooModel
from zoo.manifest import Manifest

log = logging.getLogger(__name__)


def _from_env(found: tuple[str, str], argument: str, given: Any) -> None:
    variable, value = found
    log.warning(
        "zoo.Backbone: the environment variable %s=%s replaces %s=%r (pass use_env=False to "
        "ignore it)",
        variable,
        value,
        argument,
        given,
    )


def resolve_name(name: str, *, use_env: bool = True) -> tuple[str, str | None]:
    """The model to build and the variable it came from: ``ZOO_MODEL`` / ``MODEL_NAME`` when set
    (and allowed; logged at WARNING), else ``(name, None)``."""
    found = settings.env_model() if use_env else None
    if found is None:
        return name, None
    if found[1] != name:
        _from_env(found, "name", name)
    return found[1], found[0]


def resolve_out_indices(value: Any, *, use_env: bool = True) -> tuple[Any, str | None]:
    """``out_indices`` normalized, and the variable it came from: ``ZOO_OUT_INDICES`` /
    ``OUT_INDICES`` win when set (and allowed; logged at WARNING).

    Raises:
        UsageError: The value (or the variable's) is not an int or a list of ints.
    """
    found = settings.env_out_indices() if use_env else None
    if found is None:
        return parse_out_indices(value), None
    variable, raw = found
    try:
        parsed = parse_out_indices(raw)
    except UsageError as exc:
        raise UsageError(f"environment variable {variable}: {exc}") from None
    if parsed != parse_out_indices(value):
        _from_env(found, "out_indices", value)
    return parsed, variable


def _blame(exc: ZooError, variables: dict[str, str]) -> ZooError:
    """The same error, its message saying which environment variables chose what failed."""
    said = "; ".join(
        f"{what} came from the environment variable {v}" for what, v in variables.items()
    )
    exc.args = (f"{exc} ({said}; unset it or pass use_env=False)",)
    return exc


#: Backbone's own keywords, for "did you mean" (the rest are builder overrides).
KEYWORDS = (
    "name",
    "out_indices",
    "pretrained",
    "model_kwargs",
    "dtype",
    "trust_remote_code",
    "use_env",
    "device",
    "mirror",
)


class Backbone(nn.Module):
    """A zoo model (catalogue name or manifest file) with zoo's output contract.

    ``model(x)`` returns the embedding ``[B, D]``; with ``out_indices`` a list of
    feature maps ``[B, C, H/patch, W/patch]``.

    Args:
        name: A catalogue name (``pathology/kaiko_vits16``, ``timm/vit_small_patch16_224``)
            or the path of a manifest file. Overridden by ``ZOO_MODEL`` / ``MODEL_NAME``.
        out_indices: ``None`` (embedding), ``n`` (last n blocks), block indices
            (``[-2, -4]``), or any of these as a string (``"(-2, -4)"``).
            Overridden by ``ZOO_OUT_INDICES`` / ``OUT_INDICES``.
        pretrained: Load the manifest's weights (``False``: random initialization).
        model_kwargs: Builder overrides (``img_size``, ``dynamic_img_size``...), the
            form a config file can give; merged with ``**overrides``.
        dtype: ``float32``, ``bfloat16`` or ``float16`` (default: the manifest's).
        trust_remote_code: Allow the model repository's code where the manifest needs it.
        use_env: Let the environment variables above override ``name`` and ``out_indices``.
        **overrides: Builder overrides, as keyword arguments (Python callers).
    """

    def __init__(
        self,
        name: str,
        out_indices: int | Sequence[int] | str | None = None,
        pretrained: bool = True,
        model_kwargs: dict[str, Any] | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        use_env: bool = True,
        **overrides: Any,
    ) -> None:
        super().__init__()
        check_overrides(overrides, KEYWORDS, "zoo.Backbone")
        self.name, name_variable = resolve_name(name, use_env=use_env)
        indices, indices_variable = resolve_out_indices(out_indices, use_env=use_env)
        clash = sorted(set(model_kwargs or {}) & set(overrides))
        if clash:
            raise UsageError(
                f"zoo.Backbone: {', '.join(clash)} given both in model_kwargs and as keyword arguments"
            )
        kwargs: dict[str, Any] = {
            **(model_kwargs or {}),
            **overrides,
            "out_indices": indices,
            "pretrained": pretrained,
            "dtype": dtype,
            "trust_remote_code": trust_remote_code,
        }
        from zoo.loading.api import load

        variables = {
            what: variable
            for what, variable in (("the name", name_variable), ("out_indices", indices_variable))
            if variable is not None
        }
        try:
            self.model: ZooModel = load(self.name, **kwargs)
        except ZooError as exc:
            if not variables:
                raise
            raise _blame(exc, variables) from None

    @property
    def manifest(self) -> Manifest:
        """The manifest the model was built from."""
        return self.model.manifest

    @property
    def out_indices(self) -> Any:
        """The ``out_indices`` in effect (``None``: embeddings)."""
        return self.model.out_indices

    @property
    def preprocess(self) -> Any:
        """The evaluation transform of the model's input (resize, crop, normalize)."""
        return self.model.preprocess

    @property
    def embedding_dim(self) -> int:
        """``D`` of the embedding ``[B, D]``."""
        return self.manifest.output.embedding_dim

    def forward(self, x: torch.Tensor) -> Any:
        """Embeddings ``[B, D]``, or the selected feature maps (a list)."""
        return self.model(x)
