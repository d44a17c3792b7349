import torch

import core
from core import torchvision_compat


def test_shim_is_active_exactly_when_compiled_ops_are_missing():
    import torchvision  # noqa: F401

    assert core.TORCHVISION_SHIM_ACTIVE == (torchvision_compat._library is not None)
    assert hasattr(torch.ops.torchvision, "nms")  # the schema exists either way, so torchvision imported


def test_install_is_idempotent():
    assert torchvision_compat.install() == core.TORCHVISION_SHIM_ACTIVE


def test_models_transforms_and_gradcam_import_and_run():
    from pytorch_grad_cam import GradCAM  # noqa: F401
    from torchvision.models import resnet18
    from torchvision.transforms import v2

    images = torch.rand(2, 3, 32, 32)
    assert v2.RandomRotation(10)(images).shape == images.shape
    assert resnet18(num_classes=1)(images).shape == (2, 1)
