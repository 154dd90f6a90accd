"""Access to reference implementations that need care to import.

segmentation_models_pytorch is installed without its dependencies (timm and
torchvision do not install beside the CPU torch of the test environment), and
its package __init__ imports them. An empty parent package whose __path__ is
smp's folder lets its losses/ subpackage import alone."""

from __future__ import annotations

import importlib.util
import os
import sys
import types


def smp_losses():
    """The module segmentation_models_pytorch.losses, loaded without the rest of smp."""
    if "segmentation_models_pytorch.losses" in sys.modules:
        return sys.modules["segmentation_models_pytorch.losses"]
    spec = importlib.util.find_spec("segmentation_models_pytorch")
    root = os.path.dirname(spec.origin)
    package = types.ModuleType("segmentation_models_pytorch")
    package.__path__ = [root]
    sys.modules["segmentation_models_pytorch"] = package
    import segmentation_models_pytorch.losses as losses  # noqa: E402

    return losses
