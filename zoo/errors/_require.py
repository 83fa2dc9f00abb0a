"""Optional packages: imported on first use, or one error naming the extra that installs them."""

from __future__ import annotations

import importlib
from typing import Any

from zoo.errors._base import MissingExtraError


def require(module: str, *, package: str, extra: str, purpose: str) -> Any:
    """Import ``module`` (``"monai.networks.nets"``), or raise the error that says how to install it.

    Args:
        module: The module to import.
        package: The distribution that provides it, as ``pip`` names it (``open-clip-torch``).
        extra: zoo's extra that installs it (``pip install 'zoo-backbones[extra]'``).
        purpose: What needs it, for the message (``a timm backbone``).

    Raises:
        MissingExtraError: It is not installed (also an ``ImportError``).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(package, extra, purpose) from None
