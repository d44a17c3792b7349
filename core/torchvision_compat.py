"""Make torchvision importable when its compiled ops cannot load (a CUDA build of torchvision over CPU torch).

torchvision registers fake kernels for ``torchvision::nms``/``qnms`` at import time; when ``_C.so`` fails to
load those operators were never defined and the import dies with "operator torchvision::nms does not exist".
Defining the two schemas (no kernels) lets models, transforms v2 and grad-cam import and run. Detection ops
(``torchvision.ops.nms``) and ``torchvision.io`` stay unusable, so images are decoded with PIL/OpenCV.
This module must run before the first ``import torchvision``; ``core/__init__.py`` guarantees that.
"""

import importlib.util
import sys
from pathlib import Path

import torch

SHIMMED_OPS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library = None  # keeps the registration alive for the life of the process


def _compiled_ops_load() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True  # torchvision not installed: nothing to shim
    for extension in Path(spec.origin).parent.glob("_C*.so"):
        try:
            torch.ops.load_library(str(extension))
            return True
        except OSError:
            return False
    return False


def install() -> bool:
    """Define the missing torchvision op schemas if needed; returns True when the shim is active."""
    global _library
    if _library is not None:
        return True
    if "torchvision" in sys.modules or _compiled_ops_load():
        return False
    _library = torch.library.Library("torchvision", "DEF")
    for schema in SHIMMED_OPS:
        _library.define(schema)
    return True
