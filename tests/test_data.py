import hashlib

import medmnist
import numpy as np
import pytest
import torch

from core.data import DATA_FILE, DATA_ROOT_ENV, DataNotFoundError, augment, augment_framing, load_dataset, resolve_data_root
from tests.conftest import REAL_DATA_ROOT, needs_real_data


def test_synthetic_file_loads_as_in_memory_tensors(synthetic_root, monkeypatch):
    monkeypatch.setattr(medmnist.PneumoniaMNIST, "download", lambda self: pytest.fail("downloaded a present file"))
    dataset = load_dataset(synthetic_root)
    train = dataset.splits["train"]
    assert train.images.shape == (48, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.float32 and train.class_counts() == (16, 32)
    assert len(dataset.splits["val"]) == len(dataset.splits["test"]) == 24
    assert dataset.sha256 == hashlib.sha256((synthetic_root / DATA_FILE).read_bytes()).hexdigest()


def test_data_root_comes_from_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "from-env"))
    assert resolve_data_root() == tmp_path / "from-env"
    assert resolve_data_root(tmp_path / "from-flag") == tmp_path / "from-flag"
    monkeypatch.delenv(DATA_ROOT_ENV)
    assert resolve_data_root().name == ".medmnist"


def test_missing_file_downloads_when_possible(tmp_path, monkeypatch, synthetic_root):
    source = (synthetic_root / DATA_FILE).read_bytes()
    monkeypatch.setattr(medmnist.PneumoniaMNIST, "download", lambda self: (tmp_path / "new" / DATA_FILE).write_bytes(source))
    assert len(load_dataset(tmp_path / "new").splits["train"]) == 48


def test_missing_file_without_network_says_where_to_put_it(tmp_path, monkeypatch):
    def offline(self):
        raise RuntimeError("\n    Automatic download failed! Please download pneumoniamnist.npz manually.\n")

    monkeypatch.setattr(medmnist.PneumoniaMNIST, "download", offline)
    with pytest.raises(DataNotFoundError) as error:
        load_dataset(tmp_path / "nowhere")
    message = str(error.value)
    assert str(tmp_path / "nowhere" / DATA_FILE) in message and "--data-root" in message and DATA_ROOT_ENV in message
    assert "\n" not in message


@needs_real_data
def test_real_file_has_the_official_class_counts():
    dataset = load_dataset(REAL_DATA_ROOT)
    counts = {name: split.class_counts() for name, split in dataset.splits.items()}
    assert counts == {"train": (1214, 3494), "val": (135, 389), "test": (234, 390)}


def test_augment_without_flip_or_rotation_is_the_identity():
    images = torch.rand(5, 1, 28, 28)
    out = augment(images, torch.Generator().manual_seed(0), flip=False, max_degrees=0)
    assert torch.allclose(out, images, atol=1e-5)


def test_flip_mirrors_about_half_the_images_left_to_right():
    images = torch.rand(400, 1, 28, 28)
    out = augment(images, torch.Generator().manual_seed(0), flip=True, max_degrees=0)
    same = torch.isclose(out, images, atol=1e-5).flatten(1).all(1)
    mirrored = torch.isclose(out, images.flip(-1), atol=1e-5).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 150 < int(mirrored.sum()) < 250


def _orientation_degrees(images: torch.Tensor) -> np.ndarray:
    """Principal-axis angle of each image's intensity, from second moments."""
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    w = images[:, 0]
    mass = w.sum((1, 2))
    cx, cy = (w * xs).sum((1, 2)) / mass, (w * ys).sum((1, 2)) / mass
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    mu20, mu02, mu11 = (w * dx * dx).sum((1, 2)), (w * dy * dy).sum((1, 2)), (w * dx * dy).sum((1, 2))
    return np.degrees(0.5 * torch.atan2(2 * mu11, mu20 - mu02).numpy())


def test_rotation_angles_are_per_image_and_within_ten_degrees():
    bar = torch.zeros(200, 1, 28, 28)
    bar[..., 13:15, 4:24] = 1.0  # a horizontal bar: its principal axis is the rotation angle
    angles = np.abs(_orientation_degrees(augment(bar, torch.Generator().manual_seed(0), flip=False, max_degrees=10)))
    assert angles.max() <= 10.5
    assert angles.max() > 8 and angles.std() > 2  # spread over the range, one angle per image


def test_xray_augmentation_stays_in_range_and_is_the_identity_at_zero_strength():
    from core.data import augment_xray

    images = torch.rand(6, 1, 28, 28)
    zero = dict(flip=False, max_degrees=0, max_shift=0, scale=0, brightness=0, contrast=0, gamma=0, noise=0, blur_probability=0)
    assert torch.allclose(augment_xray(images, torch.Generator().manual_seed(0), **zero), images, atol=1e-5)
    out = augment_xray(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1 and not torch.allclose(out, images, atol=0.02)
    assert torch.equal(out, augment_xray(images, torch.Generator().manual_seed(0)))  # reproducible from the generator


def test_framing_augmentation_squeezes_sideways_only_when_given_an_aspect_range():
    bar = torch.zeros(3, 1, 28, 28)
    bar[..., 10:18] = 1.0  # an 8-pixel vertical bar
    still = dict(zoom=(1.0, 1.0), max_shift_px=0.0, max_degrees=0.0, gamma=1.0 + 1e-9, contrast=(1.0, 1.0 + 1e-9), brightness=0.0,
                 blur_probability=0.0, noise=0.0)
    squeezed = augment_framing(bar, torch.Generator().manual_seed(0), aspect=(0.5, 0.5), **still)
    assert torch.equal((squeezed[:, 0, 14] > 0.5).sum(dim=1), torch.tensor([4, 4, 4]))  # half as wide ...
    assert torch.equal(squeezed[:, 0, :, 14], bar[:, 0, :, 14])  # ... and as tall
    plain = augment_framing(bar, torch.Generator().manual_seed(1))
    assert torch.equal(plain, augment_framing(bar, torch.Generator().manual_seed(1), aspect=(1.0, 1.0)))  # the old recipe's draws
