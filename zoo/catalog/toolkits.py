"""Which other toolkits list a catalogue entry under a name of their own.

TRIDENT, LazySlide and STAMP are known through the entry's namespaced aliases
(``trident/uni_v1``, ``lazyslide/uni``, ``stamp/chief``): an entry carries the alias exactly when it returns what that toolkit's encoder
returns. eva is known through its registry names, which zoo adopted as catalogue names; an entry
is listed by eva when its name (or, for the one name eva registers without a group, an alias) is
one of them.
"""

from __future__ import annotations

from typing import NamedTuple

from zoo.manifest import Manifest

#: eva 0.4.5's backbone registry (kaiko-ai/eva 73b61a797bfda8daf232f6abea2bc87ac614589c,
#: ``backbone_registry.register(...)`` under src/eva/vision/models/networks/backbones/).
EVA_NAMES = frozenset(
    {
        "pathology/bioptimus_h0_mini",
        "pathology/bioptimus_h_optimus_0",
        "pathology/histai_hibou_b",
        "pathology/histai_hibou_l",
        "pathology/hkust_gpfm",
        "pathology/kaiko_midnight_12k",
        "pathology/kaiko_vitb16",
        "pathology/kaiko_vitb8",
        "pathology/kaiko_vitl14",
        "pathology/kaiko_vits16",
        "pathology/kaiko_vits8",
        "pathology/lunit_vits16",
        "pathology/lunit_vits8",
        "pathology/mahmood_uni",
        "pathology/mahmood_uni2_h",
        "pathology/owkin_phikon",
        "pathology/owkin_phikon_v2",
        "pathology/paige_virchow2",
        "pathology/prov_gigapath",
        "radiology/suprem_segresnet",
        "radiology/suprem_swin_unetr",
        "radiology/swin_unetr_encoder",
        "radiology/universal_swinunetr",
        "radiology/voco_b",
        "radiology/voco_h",
        "radiology/voco_l",
        "segresnet_encoder",
        "universal/vit_base_patch16_224_dino_1chan",
        "universal/vit_small_patch16_224_dino",
        "universal/vit_small_patch16_224_dino_1chan",
        "universal/vit_small_patch16_224_random",
        "universal/vit_tiny_patch16_224_random",
    }
)


class Toolkit(NamedTuple):
    """A toolkit whose names the catalogue knows."""

    mark: str
    """One letter, for tables."""
    name: str
    """How the toolkit is called."""
    namespace: str | None
    """The prefix of its namespaced aliases (``trident/``); None when known by its names."""


TOOLKITS = (
    Toolkit("T", "TRIDENT", "trident/"),
    Toolkit("L", "LazySlide", "lazyslide/"),
    Toolkit("S", "STAMP", "stamp/"),
    Toolkit("e", "eva", None),
)


def listed_by(m: Manifest) -> list[Toolkit]:
    """The toolkits that list ``m``'s embedding under a name of their own, in ``TOOLKITS`` order."""
    found = []
    for kit in TOOLKITS:
        if kit.namespace is not None:
            if any(alias.startswith(kit.namespace) for alias in m.aliases):
                found.append(kit)
        elif m.name in EVA_NAMES or EVA_NAMES.intersection(m.aliases):
            found.append(kit)
    return found
