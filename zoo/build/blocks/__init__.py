"""Small building blocks that let timm build architectures it cannot build as published.

A manifest names them through ``$object`` kwargs (``embed_layer: {$object:
zoo.build.blocks.ConvStem}``), so a model that differs from a timm architecture in one
part is built from timm's parts plus this one tested block, never with remote code.
"""

from zoo.build.blocks.conv_stem import ConvStem
from zoo.build.blocks.pooled_tower import PooledTower, pooled_tower

__all__ = ["ConvStem", "PooledTower", "pooled_tower"]
