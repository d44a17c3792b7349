"""The one inference path: probabilities, Grad-CAM as the grad-cam library computes it, and many threads at once."""

import threading

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint
from core.evaluation import split_arrays
from core.inference import gradcam, image_batch, load_model, read
from core.registry import spec
from core.assets import load_test_images
from tests.conftest import committed_model, served_model

MODELS = ["cnn", "resnet18", "cnn_noflip_x5", "resnet18_28_framing"]
DISTINCT = MODELS[1:]  # each architecture once: the CNN ensemble runs the CNN
SINGLE = ["cnn", "resnet18"]  # the library's GradCAM reads one layer; an ensemble's map stacks its members' layers
IMAGES = load_test_images()[0]


@pytest.fixture(scope="module", params=MODELS)
def checkpoint(request):
    return open_checkpoint(CHECKPOINTS_DIR / request.param)


def _library_gradcam(checkpoint, image, target_class):
    """pytorch-grad-cam's own GradCAM, hooks and all, on a private copy of the model."""
    model = load_model(checkpoint).requires_grad_(True)
    with GradCAM(model=model, target_layers=[model.get_submodule(spec(checkpoint.name).cam_layer)]) as cam:
        return cam(input_tensor=image_batch(image), targets=[BinaryClassifierOutputTarget(target_class)])[0]


@pytest.mark.parametrize("name", SINGLE)
@pytest.mark.parametrize("target_class", [0, 1])
def test_gradcam_is_the_grad_cam_librarys_to_the_bit(name, target_class):
    checkpoint = open_checkpoint(CHECKPOINTS_DIR / name)
    model = load_model(checkpoint)
    for index in (0, 17, 500):
        ours = gradcam(model, IMAGES[index], [target_class])[0]
        assert np.array_equal(ours, _library_gradcam(checkpoint, IMAGES[index], target_class))


def test_reading_gives_shape_range_and_the_committed_probability(checkpoint):
    model = committed_model(checkpoint.name)
    committed = split_arrays(checkpoint.predictions, "test")[1]
    for index in (3, 42):
        reading = read(model, IMAGES[index], threshold=0.5)
        assert reading.heatmap.shape == (28, 28) and reading.heatmap.dtype == np.float32
        assert reading.heatmap.min() >= 0 and 0.99 <= reading.heatmap.max() <= 1
        assert reading.probability == pytest.approx(committed[index], abs=1e-5)


def test_the_heatmap_explains_the_class_the_threshold_gives(checkpoint):
    model = committed_model(checkpoint.name)
    image = IMAGES[7]
    probability = read(model, image, 0.5).probability
    above, below = read(model, image, probability + 1e-9), read(model, image, probability)
    assert (above.predicted_class, below.predicted_class) == (0, 1)  # the decision rule: probability >= threshold
    assert np.array_equal(above.heatmap, gradcam(model, image, [0])[0])
    assert np.array_equal(below.heatmap, gradcam(model, image, [1])[0])
    assert not np.array_equal(above.heatmap, below.heatmap)


def test_a_reading_leaves_the_shared_model_untouched(checkpoint):
    model = committed_model(checkpoint.name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    read(model, IMAGES[1], 0.5)
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    assert not model.training and not model._forward_hooks and not any(m._forward_hooks or m._backward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("path", ["torch", "served"])
@pytest.mark.parametrize("name", DISTINCT)
def test_threads_on_one_model_get_exactly_the_single_thread_result(name, path):
    """8 threads at once over 4 images (two starting at each) on the same model object, as Streamlit sessions share a
    cached model (the hook-based Grad-CAM this replaced gave wrong heatmaps and exceptions, and crashed ResNet-18);
    through torch and through the app's ONNX Runtime path. Bit for bit: every session must see what one alone sees."""
    read = globals()["read"] if path == "torch" else lambda model, image, threshold: model.read(image, threshold)
    model = committed_model(name) if path == "torch" else served_model(name)
    indices = list(range(0, 600, 150))
    thresholds = {i: 0.3 + 0.1 * k for k, i in enumerate(indices)}
    expected = {i: read(model, IMAGES[i], thresholds[i]) for i in indices}
    mismatches, errors = [], []
    start = threading.Barrier(8)

    def session(offset: int) -> None:
        try:
            start.wait()
            for i in indices[offset % 4:] + indices[:offset % 4]:
                got = read(model, IMAGES[i], thresholds[i])
                if got.probability != expected[i].probability or not np.array_equal(got.heatmap, expected[i].heatmap):
                    mismatches.append(i)
        except Exception as error:  # noqa: BLE001  (any failure in a thread is a test failure)
            errors.append(repr(error))

    threads = [threading.Thread(target=session, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and mismatches == []


def test_an_ensembles_gradcam_is_gradcam_of_its_mean_logit_over_every_members_map():
    """Channel weights are the mean gradients of the mean logit, so each member's weights are its own divided by the
    member count, and the ensemble's CAM is the ReLU of the members' weighted maps added up (then the library's scaling)."""
    from core.inference import _cams, _maps_logits_gradients

    ensemble = load_model(open_checkpoint(CHECKPOINTS_DIR / "cnn_noflip_x5"))
    batch = image_batch(IMAGES[9])
    parts = [_maps_logits_gradients(member, batch) for member in ensemble.members]
    maps = np.concatenate([p[0] for p in parts], axis=1)
    gradients = np.concatenate([p[2] for p in parts], axis=1) / len(parts)
    assert np.allclose(gradcam(ensemble, IMAGES[9], [1])[0], _cams(maps, gradients, (28, 28))[0], atol=1e-5)
    own = gradcam(ensemble.members[0], IMAGES[9], [1])[0]
    assert not np.allclose(gradcam(ensemble, IMAGES[9], [1])[0], own, atol=1e-3)  # not just the first member's
