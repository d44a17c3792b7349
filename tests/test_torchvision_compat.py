"""The torchvision shim: needed exactly when torchvision's compiled ops do not load, and enough when they do not."""

import subprocess
import sys

import torch

from tests.conftest import REPO


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_the_shim_is_needed_exactly_when_plain_torchvision_fails_and_importing_core_first_is_enough():
    plain = _python("import torchvision")
    shimmed = _python("import sys, core; assert 'torch' not in sys.modules\n"
                      "from core.torchvision_compat import _compiled_ops_load; needed = not _compiled_ops_load()\n"
                      "import pytorch_grad_cam, torchvision; print(needed)")
    assert shimmed.stdout.strip() == str(plain.returncode != 0), shimmed.stderr
    if plain.returncode != 0:
        assert "torchvision::nms does not exist" in plain.stderr


def test_models_transforms_and_gradcam_import_and_run():
    from pytorch_grad_cam import GradCAM  # noqa: F401
    from torchvision.models import resnet18
    from torchvision.transforms import v2

    images = torch.rand(2, 3, 32, 32)
    assert v2.RandomRotation(10)(images).shape == images.shape
    assert resnet18(num_classes=1)(images).shape == (2, 1)
