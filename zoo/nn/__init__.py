"""Small building blocks that let timm build architectures it cannot build as published.

A manifest names them through ``$object`` kwargs (``embed_layer: {$object:
zoo.nn.ConvStem}``) or as a ``function`` wrapper's path, so a model that differs from a
timm architecture in one part is built from timm's parts plus one tested block, never with remote
code.
"""

from zoo.nn.beit3_image import Beit3Image, beit3_image
from zoo.nn.channel_split import ChannelSplit, channel_split
from zoo.nn.conv_stem import ConvStem
from zoo.nn.mlp_tower import MlpTower, mlp_tower
from zoo.nn.pooled_tower import PooledTower, pooled_tower

__all__ = [
    "Beit3Image",
    "ChannelSplit",
    "ConvStem",
    "MlpTower",
    "PooledTower",
    "beit3_image",
    "channel_split",
    "mlp_tower",
    "pooled_tower",
]
