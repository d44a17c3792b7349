"""The torchvision shim: needed exactly when torchvision's compiled ops do not load, and enough when they do not."""

import subprocess
import sys

import torch

from tests.conftest import REPO


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_plain_torchvision_import_fails_exactly_when_the_shim_says_it_is_needed():
    plain = _python("import torchvision")
    needed = _python("from core.torchvision_compat import _compiled_ops_load; print(not _compiled_ops_load())")
    assert needed.stdout.strip() == str(plain.returncode != 0)
    if plain.returncode != 0:
        assert "torchvision::nms does not exist" in plain.stderr


def test_importing_core_first_makes_torchvision_and_grad_cam_import_without_importing_torch_early():
    result = _python("import sys, core; assert 'torch' not in sys.modules; import pytorch_grad_cam, torchvision; print('ok')")
    assert result.stdout.strip() == "ok", result.stderr


def test_models_transforms_and_gradcam_import_and_run():
    from pytorch_grad_cam import GradCAM  # noqa: F401
    from torchvision.models import resnet18
    from torchvision.transforms import v2

    images = torch.rand(2, 3, 32, 32)
    assert v2.RandomRotation(10)(images).shape == images.shape
    assert resnet18(num_classes=1)(images).shape == (2, 1)
