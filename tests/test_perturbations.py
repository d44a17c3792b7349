"""The perturbation suite: each change is what its name says, exactly at 28×28 and closely at full resolution."""

import numpy as np
import pytest
from PIL import Image

from core.imaging import decode, to_dataset_image
from core.perturbations import BY_NAME, CLEAN, Perturbation, FRAMING_CHECK, SUITE, TARGET, apply_suite, expose, frame, jpeg, zoom_label
from tests.conftest import FIXTURES

IMAGE = np.random.default_rng(0).integers(0, 256, (28, 28)).astype(np.uint8)


def _resized(square: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(square).resize((28, 28), Image.Resampling.BILINEAR))


def test_the_clean_image_is_the_image():
    assert np.array_equal(CLEAN.apply(IMAGE), IMAGE)


def test_tighter_framing_is_the_centre_crop_resized_back():
    assert np.array_equal(BY_NAME["tighter_17"].apply(IMAGE), _resized(IMAGE[2:26, 2:26]))
    assert np.array_equal(BY_NAME["tighter_8"].apply(IMAGE), _resized(IMAGE[1:27, 1:27]))


def test_looser_framing_is_a_black_border_resized_back():
    assert np.array_equal(BY_NAME["looser_13"].apply(IMAGE), _resized(np.pad(IMAGE, 2)))
    assert np.array_equal(BY_NAME["looser_7"].apply(IMAGE), _resized(np.pad(IMAGE, 1)))


@pytest.mark.parametrize("name, rows, columns", [("shift_left", slice(None), slice(None, -2)), ("shift_right", slice(None), slice(2, None)),
                                                  ("shift_up", slice(None, -2), slice(None)), ("shift_down", slice(2, None), slice(None))])
def test_a_shift_moves_the_content_by_two_pixels_and_fills_black(name, rows, columns):
    shifted = BY_NAME[name].apply(IMAGE)
    moved = {"shift_left": IMAGE[:, 2:], "shift_right": IMAGE[:, :-2], "shift_up": IMAGE[2:], "shift_down": IMAGE[:-2]}[name]
    assert np.array_equal(shifted[rows, columns], moved)
    assert shifted.sum() - shifted[rows, columns].sum() == 0  # the uncovered strip is black


def test_rotation_turns_the_content_the_way_its_name_says():
    assert np.array_equal(frame(IMAGE, degrees=90), np.rot90(IMAGE))  # anticlockwise
    assert np.array_equal(frame(IMAGE, degrees=-90), np.rot90(IMAGE, -1))
    assert np.abs(BY_NAME["rotate_left"].apply(IMAGE).astype(int) - IMAGE).mean() > 10


def test_an_aspect_change_squeezes_or_stretches_sideways_only():
    rows = np.tile(np.linspace(0, 255, 28).astype(np.uint8)[:, None], (1, 28))  # each row one grey level
    squeezed = BY_NAME["squeezed_0.75"].apply(rows)
    assert np.array_equal(squeezed[:, 10:18], rows[:, 10:18])  # heights untouched
    assert squeezed[:, :2].max() == 0 and squeezed[:, -2:].max() == 0  # the 28×28 has nothing beyond its sides: black
    columns = rows.T.copy()  # each column one grey level: a stretch crops the sides and widens the middle
    stretched = BY_NAME["stretched_1.33"].apply(columns).astype(int)
    assert np.diff(stretched[0]).mean() == pytest.approx(np.diff(columns[0].astype(int)).mean() / 1.33, rel=0.05)  # the slope, / 1.33
    assert abs(stretched[0, 13:15].mean() - columns[0, 13:15].mean()) <= 1  # about the centre
    assert all(np.array_equal(BY_NAME[name].apply(IMAGE), BY_NAME[name].apply(IMAGE)) for name in ("squeezed_0.87", "stretched_1.15"))


def test_exposure_changes_are_the_textbook_formulas():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(expose(levels, gamma=0.8), np.round(255 * (levels / 255) ** 0.8).astype(np.uint8))
    brighter = expose(levels, brightness=0.1).astype(float)
    assert np.abs(brighter - np.clip(levels + 25.5, 0, 255)).max() <= 0.5 + 1e-9  # +10% of 255, rounded
    contrasted = expose(levels, contrast=1.25).astype(float)
    assert contrasted.mean() == pytest.approx(levels.mean(), abs=3)  # about the mean, apart from clipping
    assert contrasted.std() > 1.15 * levels.std()


def test_blur_and_jpeg_change_the_image_a_little():
    for name in ("blur", "jpeg_40"):
        changed = BY_NAME[name].apply(IMAGE).astype(int)
        assert 1 < np.abs(changed - IMAGE).mean() < 60, name
    assert np.array_equal(jpeg(np.full((28, 28), 128, np.uint8), 40), np.full((28, 28), 128, np.uint8))


def test_the_suite_names_its_target_and_the_framing_check_reads_around_the_dataset():
    assert len({p.name for p in SUITE}) == len(SUITE) == 24 and SUITE[0] is CLEAN
    framings = [p.zoom for p in SUITE if p.group == "framing"]
    assert min(framings) <= 0.8 and max(framings) >= 1.15  # 20% looser to 17% tighter
    assert "looser_20" not in TARGET and {"tighter_17", "looser_13", "shift_left", "gamma_0.8"} <= set(TARGET)
    aspects = [p.aspect for p in SUITE if p.group == "aspect"]
    assert min(aspects) <= 0.75 and max(aspects) >= 1.33 and {p.name for p in SUITE if p.group == "aspect"} <= set(TARGET)
    assert FRAMING_CHECK[0] is CLEAN and all(p.group in ("clean", "framing", "exposure") for p in FRAMING_CHECK)
    assert [zoom_label(z) for z in (28 / 24, 28 / 32, 1.0)] == ["17% tighter", "13% looser", "framed as the dataset"]
    batches = apply_suite(IMAGE[None].repeat(3, 0))
    assert list(batches) == [p.name for p in SUITE] and all(b.shape == (3, 28, 28) and b.dtype == np.uint8 for b in batches.values())


@pytest.mark.skipif(not FIXTURES.exists(), reason="needs ../shared/fixtures/cxr")
def test_at_full_resolution_a_tighter_frame_is_a_real_crop_not_an_enlarged_28():
    grey = decode((FIXTURES / "kermany_NORMAL2-IM-1430-0001.jpeg").read_bytes()).grey
    assert np.array_equal(CLEAN.apply(grey), to_dataset_image(grey))  # the upload path, unchanged
    height, width = grey.shape
    side = round(min(height, width) * 24 / 28)
    top, left = (height - side) // 2, (width - side) // 2
    cropped = to_dataset_image(grey[top:top + side, left:left + side])
    tighter = BY_NAME["tighter_17"].apply(grey)
    assert np.abs(tighter.astype(int) - cropped).mean() < 1.0  # the same crop, up to sub-pixel placement
    assert np.abs(tighter.astype(int) - BY_NAME["tighter_17"].apply(to_dataset_image(grey))).mean() > 1.0  # sharper than 28 enlarged
    looser = BY_NAME["looser_13"].apply(grey)
    assert looser[:, 0].mean() > 20  # the wider image's own content comes in at the sides (it is landscape) ...
    assert looser[0].max() == 0  # ... and black above and below, past its short side


@pytest.mark.skipif(not FIXTURES.exists(), reason="needs ../shared/fixtures/cxr")
def test_at_full_resolution_a_squeeze_is_what_a_pipeline_that_resizes_to_a_square_does():
    grey = decode((FIXTURES / "kermany_NORMAL2-IM-1430-0001.jpeg").read_bytes()).grey  # landscape, 1272×1040
    height, width = grey.shape
    squeezed = Perturbation("squeezed", "squeezed", "aspect", aspect=height / width).apply(grey)
    pipeline = to_dataset_image(np.asarray(Image.fromarray(grey).resize((224, 224), Image.Resampling.BILINEAR)))  # ../shared/fixtures/resized-224
    assert np.abs(squeezed.astype(int) - pipeline).mean() < 0.5  # the same picture, up to resampling in two steps
    full, small = BY_NAME["squeezed_0.75"].apply(grey), BY_NAME["squeezed_0.75"].apply(to_dataset_image(grey))
    assert small[:, :2].max() == 0 and full[:, :2].max() > 0  # the wider image's own content comes in at the sides
    assert np.abs(full.astype(int) - small).mean() > 1.0
