"""Shared fixtures: a small synthetic PneumoniaMNIST file, and the real one when ../shared/data holds it."""

import functools
import os
from pathlib import Path

import numpy as np
import pytest

import core  # noqa: F401  (torchvision shim first)
from ui import routing
from core.data import DATA_FILE, DATA_ROOT_ENV

# A page error fails the test that met it (AppTest's app.exception) instead of becoming the entry script's sentence.
os.environ[routing.RAISE_PAGE_ERRORS_ENV] = "1"

REPO = Path(__file__).resolve().parent.parent
REAL_DATA_ROOT = Path(os.environ.get(DATA_ROOT_ENV) or REPO.parent / "shared" / "data")
FIXTURES = REPO.parent / "shared" / "fixtures" / "cxr"

needs_real_data = pytest.mark.skipif(not (REAL_DATA_ROOT / DATA_FILE).exists(), reason=f"no {DATA_FILE} in {REAL_DATA_ROOT}")


@functools.cache
def committed_model(name: str):
    """A committed checkpoint's model, loaded (and its weights checked) once per test session; inference never changes it."""
    from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint
    from core.inference import load_model

    return load_model(open_checkpoint(CHECKPOINTS_DIR / name))


@functools.cache
def served_model(name: str):
    """A committed model as the app serves it (core.serving), once per test session."""
    from core.serving import serve

    return serve(committed_model(name))


def write_synthetic_npz(folder: Path, sizes=(("train", 48), ("val", 24), ("test", 24)), seed: int = 0) -> Path:
    """A PneumoniaMNIST-shaped file whose pneumonia images are brighter, so a model can learn something."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in sizes:
        labels = (np.arange(n) % 3 != 0).astype(np.uint8)  # about 2:1 pneumonia, as the real data
        images = rng.integers(0, 140, size=(n, 28, 28)) + 100 * labels[:, None, None]
        arrays[f"{split}_images"] = images.astype(np.uint8)
        arrays[f"{split}_labels"] = labels[:, None]
    path = folder / DATA_FILE
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture
def synthetic_root(tmp_path) -> Path:
    write_synthetic_npz(tmp_path)
    return tmp_path
