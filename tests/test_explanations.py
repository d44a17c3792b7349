"""The heatmap checks: each CAM method against the grad-cam library, the hooked maps against the app's hookless ones,
the randomisation check failing for a map that ignores the model, and every committed record against a direct
computation."""

import dataclasses
import json

import numpy as np
import pytest
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget
from scipy.stats import spearmanr

from core import explanations
from core.assets import load_test_images
from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint, trained_models
from core.inference import _maps_logits_gradients, gradcam, image_batch, load_model
from core.registry import spec
from tests.conftest import REAL_DATA_ROOT, committed_model, needs_real_data

IMAGES = load_test_images()[0]
MODELS = list(trained_models(CHECKPOINTS_DIR))
LIBRARY = {"gradcam": GradCAM, "hirescam": HiResCAM, "gradcam++": GradCAMPlusPlus, "xgradcam": XGradCAM, "layercam": LayerCAM,
           "eigencam": EigenCAM}


@pytest.mark.parametrize("method", explanations.RAW_CAMS)
def test_each_method_is_the_grad_cam_librarys_class(method):
    """Same maps and gradients, the library's class with its hooks: equal to 1e-5 (float32 sums in another order)."""
    checkpoint = open_checkpoint(CHECKPOINTS_DIR / "cnn")
    library_model = load_model(checkpoint).requires_grad_(True)
    images, targets = IMAGES[[0, 17, 500]], [1, 0, 1]
    with LIBRARY[method](model=library_model, target_layers=[library_model.get_submodule(spec("cnn").cam_layer)]) as library:
        expected = library(input_tensor=image_batch(images), targets=[BinaryClassifierOutputTarget(t) for t in targets])
    maps, _, gradients = _maps_logits_gradients(committed_model("cnn"), image_batch(images))
    signs = np.array([1, -1, 1], np.float32)[:, None, None, None]
    assert np.allclose(explanations.cam(method, maps, gradients * signs), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["cnn", "cnn_noflip_x5", "resnet18_28_framing"])
def test_the_hooked_maps_are_the_apps_and_give_its_gradcam(name):
    """The offline capture (hooks on every member or framing) stacks maps as forward_features does: the same Grad-CAM."""
    model, images, targets = committed_model(name), IMAGES[[3, 42]], np.array([1, 0])
    layer = spec(name).cam_layer.split("*.")[-1].removeprefix("base.")
    maps, gradients = explanations.maps_and_gradients(model, images, np.where(targets == 1, 1.0, -1.0), [layer])[layer]
    reference_maps, _, _ = _maps_logits_gradients(model, image_batch(images))
    assert np.allclose(maps, reference_maps, atol=1e-6)
    assert np.allclose(explanations.cam("gradcam", maps, gradients), gradcam(model, images, targets), atol=1e-5)
    assert not any(m._forward_hooks for m in model.modules())


def test_spearman_and_the_interval_are_scipys_and_a_direct_bootstrap():
    rng = np.random.default_rng(1)
    a, b = rng.random((5, 28, 28)), rng.random((5, 28, 28))
    b[1] = a[1] + 0.1 * b[1]
    expected = [spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]
    assert np.allclose(explanations.spearman(a, b), expected, atol=1e-12)
    assert np.isnan(explanations.spearman(a[:1], np.zeros((1, 28, 28)))).all()  # a blank map has no rank correlation
    images = IMAGES[:4]
    assert np.allclose(explanations.edge_maps(images)[2], explanations.edge_maps(images[2:3])[0], atol=1e-7)  # image by image
    values = rng.normal(size=40)
    draws = values[np.random.default_rng(0).integers(0, 40, (2000, 40))].mean(axis=1)
    summary = explanations.mean_interval(values)
    assert summary["mean"] == pytest.approx(values.mean(), abs=1e-12)
    assert summary["ci95"] == pytest.approx(list(np.percentile(draws, [2.5, 97.5])), abs=1e-12)


def _randomisation_check(explain, model, images, seeds=(0, 1)) -> list[bool]:
    """Passes at each cascading depth, for a map function explain(model, images), as measure() decides it."""
    trained = explain(model, images)
    baseline = explanations.mean_interval(explanations.random_pair_baseline(trained))["mean"]
    depths = explanations.network_depths(model)
    passes = []
    for k in range(len(depths)):
        paths = tuple(p for _, group in depths[:k + 1] for p in group)
        maps = [explain(explanations.randomised(model, paths, seed), images) for seed in seeds]
        rho = np.array([explanations.spearman(trained, m) for m in maps])
        passes.append(explanations._similarity_summary(rho, np.full(rho.shape, np.nan), np.zeros(rho.shape, bool), baseline)["passes"])
    return passes


def test_the_randomisation_check_fails_for_a_map_that_ignores_the_model_and_passes_for_trained_gradcam():
    model, images = committed_model("cnn"), IMAGES[:24]
    assert _randomisation_check(lambda m, x: explanations.edge_maps(x), model, images) == [False] * 6
    targets = np.ones(len(images), int)
    passes = _randomisation_check(lambda m, x: gradcam(m, x, targets), model, images)
    assert passes[-1] and passes[3]  # re-initialised down to the last conv block and beyond: not the trained map any more
    assert not passes[0]  # the output layer alone leaves the CNN's Grad-CAM almost as it was (as its record says)


def test_randomising_changes_only_the_depths_asked_for_and_leaves_the_model_alone():
    model = committed_model("cnn_noflip_x5")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy = explanations.randomised(model, ("classifier.7",), seed=0)
    after = copy.state_dict()
    changed = {k for k in before if not np.array_equal(before[k].numpy(), after[k].numpy())}
    assert changed == {f"members.{m}.classifier.7.{p}" for m in range(5) for p in ("weight", "bias")}
    assert all(np.array_equal(before[k].numpy(), v.numpy()) for k, v in model.state_dict().items())


@pytest.fixture(scope="module", params=MODELS)
def record(request):
    checkpoint = open_checkpoint(CHECKPOINTS_DIR / request.param)
    return checkpoint, explanations.read_record(checkpoint.folder, checkpoint.card)


def test_every_committed_model_has_a_record_that_holds_together(record):
    checkpoint, record = record
    assert record is not None, f"no {explanations.RECORD_FILE} for {checkpoint.name}: python train.py explanations --model {checkpoint.name}"
    model = committed_model(checkpoint.name)
    assert record["depths"] == [label for label, _ in explanations.network_depths(model)] and len(record["seeds"]) >= 5
    assert (record["chosen"], record["why"]) == explanations.choose(record["candidates"], record["per_image"]["reference"], record["nulls"]["random"])
    assert set(record["models"]) == set(MODELS) - {checkpoint.name}
    assert (record["members"] is not None) == (checkpoint.card.architecture == "SeedEnsemble")
    reference = record["candidates"][record["per_image"]["reference"]]
    for key, values in (("road", record["per_image"]["road"]), ("edge_rho", record["per_image"]["edge_rho"])):
        assert reference[key]["mean"] == pytest.approx(np.nanmean(values), abs=1e-12)
    assert record["nulls"]["random"]["mean"] == pytest.approx(np.mean(record["per_image"]["road_random"]), abs=1e-12)
    for mode in ("cascading", "independent"):
        for depth, rho in zip(reference[mode], record["per_image"]["rho"][mode]):
            rho = np.abs(np.array(rho, float))
            if np.isnan(rho).all():  # every randomised map blank: nothing of the trained map is left
                assert depth["abs_rho"] is None and depth["passes"]
                continue
            with np.errstate(invalid="ignore"):
                per_image = np.array([np.nan if np.isnan(column).all() else np.nanmean(column) for column in rho.T])
            assert depth["abs_rho"] == pytest.approx(np.nanmean(per_image), abs=1e-12)
            assert depth["passes"] == (depth["abs_rho"] < reference["baseline"]["mean"])
    assert explanations.verdict(record).sentence


def test_a_record_made_from_other_weights_is_refused(tmp_path):
    checkpoint = open_checkpoint(CHECKPOINTS_DIR / MODELS[0])
    text = (checkpoint.folder / explanations.RECORD_FILE).read_text()
    (tmp_path / explanations.RECORD_FILE).write_text(text)
    other = dataclasses.replace(checkpoint.card, weights_sha256="0" * 64)
    with pytest.raises(explanations.RecordError, match="other weights"):
        explanations.read_record(tmp_path, other)
    assert explanations.read_record(tmp_path, checkpoint.card) == json.loads(text)


@needs_real_data
def test_the_records_numbers_are_a_direct_computation_on_its_images(record):
    """Recomputed on the first images of the record's validation sample: the trained maps' ROAD, edge resemblance and
    seed-0 randomisation at the output layer, and the random-pair baseline over the whole sample (CPU float sums in
    other batch sizes: ρ and ROAD to 1e-3)."""
    from core.data import load_dataset

    checkpoint, record = record
    model = committed_model(checkpoint.name)
    val = load_dataset(REAL_DATA_ROOT).splits["val"]
    sample = np.array(record["sample"])
    assert val.labels.numpy().ravel()[sample].tolist() == record["labels"]
    images = val.images[sample, 0].numpy()
    signs = np.where(np.array(record["decided"]) == 1, 1.0, -1.0)
    method, layer = record["per_image"]["reference"].split("@")
    few = slice(0, 3)
    maps, gradients = explanations.maps_and_gradients(model, images[few], signs[few], [layer])[layer]
    trained = explanations.cam(method, maps, gradients)
    assert np.allclose(explanations.road(model, images[few], trained, signs[few]), record["per_image"]["road"][few], atol=1e-3)
    edges = explanations.edge_maps(images[few])
    assert np.allclose(explanations.spearman(trained, edges), record["per_image"]["edge_rho"][few], atol=1e-3, equal_nan=True)
    first_depth = explanations.network_depths(model)[0][1]
    randomised = explanations.randomised(model, first_depth, record["seeds"][0])
    maps, gradients = explanations.maps_and_gradients(randomised, images[few], signs[few], [layer])[layer]
    rho = explanations.spearman(trained, explanations.cam(method, maps, gradients))
    assert np.allclose(rho, record["per_image"]["rho"]["cascading"][0][0][few], atol=1e-3, equal_nan=True)
    if checkpoint.card.architecture != "ResNet18Classifier":  # the whole sample through ResNet-18 at 224 px is slow
        maps, gradients = explanations.maps_and_gradients(model, images, signs, [layer])[layer]
        baseline = explanations.mean_interval(explanations.random_pair_baseline(explanations.cam(method, maps, gradients)))
        assert baseline["mean"] == pytest.approx(record["candidates"][record["per_image"]["reference"]]["baseline"]["mean"], abs=1e-3)
