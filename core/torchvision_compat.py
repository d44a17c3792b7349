"""Make torchvision importable when its compiled ops cannot load (a CUDA build of torchvision over CPU torch).

torchvision registers fake kernels for ``torchvision::nms``/``qnms`` at import time; when ``_C.so`` fails to
load those operators were never defined and the import dies with "operator torchvision::nms does not exist".
Defining the two schemas (no kernels) lets models, transforms v2 and grad-cam import and run. Detection ops
(``torchvision.ops.nms``) and ``torchvision.io`` stay unusable, so images are decoded with PIL/OpenCV.
``core/__init__.py`` calls install_on_import(): the shim is then installed just before the first
``import torchvision`` anywhere (grad-cam imports it too), and torch is not imported before something needs it.
"""

import importlib.abc
import importlib.util
import sys
from pathlib import Path

SHIMMED_OPS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library = None  # keeps the registration alive for the life of the process


def _compiled_ops_load() -> bool:
    import torch

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
    import torch

    _library = torch.library.Library("torchvision", "DEF")
    for schema in SHIMMED_OPS:
        _library.define(schema)
    return True


class _InstallBeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs install() when torchvision is first imported, then steps aside for the normal import."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            install()
        return None


def install_on_import() -> None:
    if "torchvision" not in sys.modules and not any(isinstance(f, _InstallBeforeTorchvision) for f in sys.meta_path):
        sys.meta_path.insert(0, _InstallBeforeTorchvision())
