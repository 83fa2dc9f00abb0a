"""eva's backbone registries, old and new, serving zoo's catalogue and timm.

- eva >= 0.3: ``eva.core.utils.registry.Registry`` (``register(key)`` decorator, ``get``,
  ``entries()``) and its instance ``backbone_registry``
  (``eva.vision.models.networks.backbones``), read by ``ModelFromRegistry``.
- eva 0.2.x: the class ``BackboneModelRegistry`` (``register``, ``get``, ``load_model``,
  ``list_models``) and ``register_model``.

Both look in one store of functions registered in this process, then in the catalogue
(names and aliases), then at ``timm/<architecture>``; both keep eva's error wording
(``Item X not found in the registry.``, ``Entry X is already registered.`` and the 0.2.x
``Model X ...``) and add zoo's suggestions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from zoo.catalog.reader import Catalog
from zoo.catalog.suggest import rank
from zoo.catalog.timm.index import PREFIX
from zoo.catalog.toolkits import eva_entry
from zoo.compat.eva.base import BaseModel
from zoo.errors import ArgumentError, RegistryLookupError, UsageError, ZooError
from zoo.loading.api import load

RegistryItem = Callable[..., Any]
ModelFn = Callable[..., nn.Module]


class Registry:
    """eva's registry of classes and functions by a unique key (``eva.core.utils.registry``)."""

    def __init__(self) -> None:
        self._registry: dict[str, RegistryItem] = {}

    def register(self, key: str, /) -> Callable[[RegistryItem], RegistryItem]:
        """Decorator that registers a class or function under ``key``.

        Raises:
            UsageError: ``key`` is taken (a ``ValueError``, as in eva).
        """

        def wrapper(obj: RegistryItem) -> RegistryItem:
            if key in self.entries():
                raise UsageError(f"Entry {key} is already registered.")
            self._registry[key] = obj
            return obj

        return wrapper

    def get(self, name: str) -> RegistryItem:
        """The class or function registered under ``name``.

        Raises:
            RegistryLookupError: Unknown name (eva's ``ValueError``, with close names).
        """
        if name not in self._registry:
            entries = self.entries()
            raise RegistryLookupError(
                name,
                rank(name, entries),
                wording=f"Item {name} not found in the registry.",
                fallback=f" Registered: {', '.join(entries) or 'nothing'}.",
            )
        return self._registry[name]

    def entries(self) -> list[str]:
        """Every key, in registration order."""
        return list(self._registry)


def _catalogue_fn(name: str) -> ModelFn:
    def build(**kwargs: Any) -> nn.Module:
        return load(name, **kwargs)

    build.__name__ = build.__qualname__ = name.replace("/", "__")
    return build


def timm_model(
    model_name: str,
    checkpoint_path: str | None = None,
    pretrained: bool = False,
    out_indices: int | tuple[int, ...] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """What eva's registry gives for ``timm/<model_name>``: a :class:`TimmModel`, not pretrained
    unless asked (eva's default). Unlike eva, a ``dynamic_img_size`` given here reaches timm."""
    from zoo.compat.eva.wrappers import TimmModel

    return TimmModel(
        model_name=model_name,
        pretrained=pretrained,
        checkpoint_path=checkpoint_path or "",
        out_indices=out_indices,
        model_kwargs=kwargs,
    )


def _timm_fn(name: str) -> ModelFn:
    def build(**kwargs: Any) -> nn.Module:
        return timm_model(name.removeprefix(PREFIX), **kwargs)

    build.__name__ = build.__qualname__ = name.replace("/", "__")
    return build


class BackboneRegistry(Registry):
    """``backbone_registry``: functions registered in this process, the catalogue, and timm."""

    def __init__(self, store: dict[str, RegistryItem]) -> None:
        super().__init__()
        self._registry = store

    def register(self, key: str, /) -> Callable[[RegistryItem], RegistryItem]:
        """Decorator: register a function returning an ``nn.Module`` under ``key``.

        Raises:
            UsageError: ``key`` is registered, or is a catalogue or timm name.
        """

        def wrapper(obj: RegistryItem) -> RegistryItem:
            if key in self._registry:
                raise UsageError(f"Entry {key} is already registered.")
            if self._served(key):
                raise UsageError(
                    f"Entry {key} is already registered. (It is a zoo catalogue or timm name; "
                    "register your function under another name.)"
                )
            self._registry[key] = obj
            return obj

        return wrapper

    def _served(self, name: str) -> bool:
        if name in Catalog():
            return True
        if name.startswith(PREFIX):
            from zoo.catalog.timm import index as timm_index

            try:
                return name.removeprefix(PREFIX) in timm_index.load().archs
            except ZooError:
                return False
        return False

    def unregister(self, key: str) -> None:
        """Remove a function registered in this process (catalogue entries stay).

        Raises:
            RegistryLookupError: Nothing is registered under ``key``.
        """
        if self._registry.pop(key, None) is None:
            raise RegistryLookupError(
                key,
                rank(key, self._registry),
                wording=f"Item {key} not found in the registry.",
            )

    def lookup(self, name: str, wording: str) -> RegistryItem:
        """:meth:`get` with another sentence for a miss (eva 0.2.x and its factory say it otherwise)."""
        if name in self._registry:
            return self._registry[name]
        catalog = Catalog()
        if name in catalog:  # eva's own names give what eva gives, under the catalogue's naming
            return _catalogue_fn(catalog.get(eva_entry(name)).name)
        if name.startswith(PREFIX) and self._served(name):
            return _timm_fn(name)
        candidates = [*catalog.names(), *self._registry]
        raise RegistryLookupError(name, rank(name, candidates), wording=wording)

    def get(self, name: str) -> RegistryItem:
        """The function that builds ``name``: registered, a catalogue name or alias, or
        ``timm/<architecture>``.

        Raises:
            RegistryLookupError: Unknown name (eva's ``ValueError``, with close names).
        """
        return self.lookup(name, f"Item {name} not found in the registry.")

    def entries(self) -> list[str]:
        """Registered names, then the catalogue's, then ``timm/<architecture>`` for each of
        timm's (when timm is installed), as eva lists its own and timm's."""
        names = [*self._registry, *(n for n in Catalog().names() if n not in self._registry)]
        from zoo.catalog.timm import index as timm_index

        try:
            archs = timm_index.load().archs
        except ZooError:
            archs = {}
        return names + [PREFIX + a for a in archs if PREFIX + a not in self._registry]


#: Functions registered in this process, shared by the new and the old registry API.
_STORE: dict[str, RegistryItem] = {}

#: eva >= 0.3's ``eva.vision.models.networks.backbones.backbone_registry``.
backbone_registry = BackboneRegistry(_STORE)


class BackboneModelRegistry:
    """eva 0.2.x's registry class (``eva.vision.models.networks.backbones.BackboneModelRegistry``)."""

    _registry: dict[str, RegistryItem] = _STORE

    @classmethod
    def register(cls, name: str) -> Callable[[ModelFn], ModelFn]:
        """Decorator that registers a function returning an ``nn.Module`` under ``name``.

        Raises:
            UsageError: The name is already registered or is a catalogue name.
        """

        def decorator(model_fn: ModelFn) -> ModelFn:
            if name in cls._registry or backbone_registry._served(name):
                extra = "" if name in cls._registry else " (It is a zoo catalogue or timm name.)"
                raise UsageError(f"Model {name} is already registered.{extra}")
            cls._registry[name] = model_fn
            return model_fn

        return decorator

    @classmethod
    def unregister(cls, name: str) -> None:
        """Remove a model registered in this process (catalogue entries stay)."""
        backbone_registry.unregister(name)

    @classmethod
    def list_models(cls) -> list[str]:
        """Every catalogue name and every registered name, and ``timm/<model_name>`` as eva
        0.2.x lists timm's, sorted."""
        return sorted({*Catalog().names(), *cls._registry, "timm/<model_name>"})

    @classmethod
    def get(cls, model_name: str) -> ModelFn:
        """The function that builds ``model_name``.

        Raises:
            RegistryLookupError: Unknown name (with suggestions); a ``LookupError`` and a ``ValueError``.
        """
        return backbone_registry.lookup(
            model_name, f"Model {model_name} not found in the registry."
        )

    @classmethod
    def load_model(
        cls, model_name: str, model_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> nn.Module:
        """Build a model: ``model_kwargs`` and keyword arguments (``out_indices``,
        ``dynamic_img_size``, ``pretrained``...) are merged, the keywords winning."""
        return cls.get(model_name)(**{**(model_kwargs or {}), **kwargs})


def register_model(name: str) -> Callable[[ModelFn], ModelFn]:
    """eva 0.2.x's decorator: register a model function in :class:`BackboneModelRegistry`."""
    return BackboneModelRegistry.register(name)


class ModelFromRegistry(BaseModel):
    """A model of ``backbone_registry`` (the zoo catalogue, timm, or registered in-process).

    Args:
        model_name: Registry name, e.g. ``pathology/kaiko_vits16``.
        model_kwargs: Keyword arguments of the model (``out_indices``, ``dynamic_img_size``...).
        model_extra_kwargs: More keyword arguments, merged over ``model_kwargs``.
        tensor_transforms: Applied to the model's output (eva 0.2.x's name).
        transforms: The same (eva >= 0.3's name).
    """

    def __init__(
        self,
        model_name: str,
        model_kwargs: dict[str, Any] | None = None,
        model_extra_kwargs: dict[str, Any] | None = None,
        tensor_transforms: Callable | None = None,
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(tensor_transforms, transforms)
        self._model_name = model_name
        self._model_kwargs = {**(model_kwargs or {}), **(model_extra_kwargs or {})}
        self.model = self.load_model()

    def load_model(self) -> nn.Module:
        name = self._model_name
        fn = backbone_registry.lookup(name, f"Invalid name: {name}.")
        instance = fn(**self._model_kwargs)
        if not isinstance(instance, nn.Module):
            raise ArgumentError(
                f"Expected an instance of {nn.Module}, but got {type(instance)}. "
                f"(ModelFromRegistry: the function registered as {name!r} must return an nn.Module.)"
            )
        return instance
