"""Checkpoint folders: complete typed cards, files checked against them, predictions consistent with the weights."""

import dataclasses
import json
import shutil

import pytest

from core.cards import SCHEMA_VERSION, Card
from core.checkpoints import CARD_FILE, CHECKPOINTS_DIR, PREDICTIONS_FILE, WEIGHTS_FILE, CheckpointError, open_checkpoint
from core.data import load_dataset
from core.evaluation import compare_with_committed, fit_recalibration, summarise
from core.inference import load_model, predictions_frame
from core.models import count_trainable_parameters
from core.registry import REGISTRY
from tests.conftest import REAL_DATA_ROOT, needs_real_data

COMMITTED = sorted(p.parent for p in CHECKPOINTS_DIR.glob("*/card.json"))


def test_the_report_models_are_committed_and_in_the_registry():
    assert {"cnn", "resnet18"} <= {folder.name for folder in COMMITTED} <= set(REGISTRY)


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_card_describes_the_weights(folder):
    checkpoint = open_checkpoint(folder, expected_name=folder.name)
    card = checkpoint.card
    assert card.schema_version == SCHEMA_VERSION and card.name == folder.name
    assert card.file_size_bytes == (folder / WEIGHTS_FILE).stat().st_size
    assert count_trainable_parameters(load_model(checkpoint).requires_grad_(True)) == card.trainable_parameters
    assert len(card.data.sha256) == 64 and card.training.device
    members = len(card.training.member_best_epochs or [card.training.best_epoch])  # a seed ensemble trains each member
    assert len(card.training.history) == members * sum(stage.epochs for stage in card.config.stages)
    assert Card.from_json(card.to_json()) == card


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_card_metrics_are_what_the_committed_predictions_give(folder):
    checkpoint = open_checkpoint(folder)
    counts = checkpoint.predictions.groupby(["split", "label"]).size().to_dict()
    assert counts == {("test", 0): 234, ("test", 1): 390, ("val", 0): 135, ("val", 1): 389}
    as_json = lambda metrics: json.dumps(dataclasses.asdict(metrics), sort_keys=True)  # noqa: E731  (nan equals nan)
    # Exact: thresholds, counts and bootstrap percentiles come from sorting and counting the committed values, no BLAS.
    assert as_json(summarise(checkpoint.predictions)) == as_json(checkpoint.card.metrics)
    refitted, recorded = fit_recalibration(checkpoint.predictions), checkpoint.card.calibration
    assert dataclasses.replace(refitted, slope=recorded.slope, intercept=recorded.intercept) == recorded
    # The temperature is an optimiser's answer over BLAS sums: another machine's last digits differ (the tenth digit was
    # seen), and the bounded search itself stops within 1e-5 of log T. 1e-4 relative moves no shown probability's 3rd decimal.
    assert refitted.slope == pytest.approx(recorded.slope, rel=1e-4)
    assert refitted.intercept == pytest.approx(recorded.intercept, abs=1e-4)


@needs_real_data
@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_committed_weights_give_the_committed_predictions_on_the_real_data(folder):
    """On 16 validation and 16 test images: the weights -> predictions guarantee, without 45 s of ResNet-18."""
    checkpoint = open_checkpoint(folder)
    splits = load_dataset(REAL_DATA_ROOT).splits
    recomputed = predictions_frame(load_model(checkpoint), {split: splits[split].head(16) for split in ("val", "test")})
    assert compare_with_committed(recomputed, checkpoint.predictions, checkpoint.card) == []
    recomputed.loc[5, "probability"] = 1 - recomputed.loc[5, "probability"]
    assert "probabilities differ" in compare_with_committed(recomputed, checkpoint.predictions, checkpoint.card)[0]


@pytest.fixture
def cnn_copy(tmp_path):
    folder = tmp_path / "cnn"
    shutil.copytree(CHECKPOINTS_DIR / "cnn", folder)
    return folder


def _flip_bytes(path, count: int = 4096):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + count] = bytes(b ^ 0xFF for b in data[middle:middle + count])
    path.write_bytes(bytes(data))


def _edit_card(folder, **changes):
    card = json.loads((folder / CARD_FILE).read_text())
    (folder / CARD_FILE).write_text(json.dumps(card | changes))


DAMAGE = {
    "flipped weight bytes": (lambda f: _flip_bytes(f / WEIGHTS_FILE), "weights (model.safetensors) do not match its card"),
    "truncated weights": (lambda f: (f / WEIGHTS_FILE).write_bytes((f / WEIGHTS_FILE).read_bytes()[:1000]), "do not match its card"),
    "missing weights": (lambda f: (f / WEIGHTS_FILE).unlink(), "has no weights file"),
    "broken card": (lambda f: (f / CARD_FILE).write_text('{"name": "cnn", '), "card.json is not valid JSON"),
    "card of another schema": (lambda f: (f / CARD_FILE).write_text('{"name": "cnn", "schema_version": 1}'), "schema version 1"),
    "card missing a field": (lambda f: (f / CARD_FILE).write_text(json.dumps({k: v for k, v in json.loads((f / CARD_FILE).read_text()).items() if k != "metrics"})),
                             "missing ['metrics']"),
    "missing predictions": (lambda f: (f / PREDICTIONS_FILE).unlink(), "has no predictions file"),
    "card of another architecture": (lambda f: _edit_card(f, architecture="ResNet18Classifier"),
                                     "holds a ResNet18Classifier(), but the registry now describes a CustomCNN()"),
    "card with other architecture options": (lambda f: _edit_card(f, architecture_options={"input_size": 28}),
                                             "holds a CustomCNN(input_size=28), but the registry now describes a CustomCNN()"),
    "card with an unknown augmentation": (lambda f: _edit_card(f, config=json.loads((f / CARD_FILE).read_text())["config"] | {"augmentation": "magic"}),
                                          "card.config: unknown augmentation 'magic'"),
    "card with a short interval": (lambda f: _edit_card(f, metrics=json.loads((f / CARD_FILE).read_text())["metrics"]
                                                      | {"val": json.loads((f / CARD_FILE).read_text())["metrics"]["val"] | {"auc_ci95": [0.9]}}),
                                   "card.metrics.val.auc_ci95 should hold 2 values, not 1"),
    "card whose robustness names other perturbations": (lambda f: _edit_card(f, robustness=json.loads((f / CARD_FILE).read_text())["robustness"]
                                                                            | {"perturbations": ["clean", "upside_down"]}),
                                                        "robustness record does not match its own perturbations"),
    "card with a mistyped history": (lambda f: _edit_card(f, training=json.loads((f / CARD_FILE).read_text())["training"] | {"history": [{"epoch": 1}]}),
                                     "card.training.history[0] is not a card of schema"),
    "edited predictions": (lambda f: (f / PREDICTIONS_FILE).write_text((f / PREDICTIONS_FILE).read_text().replace("val,0,1", "val,0,0")),
                           "predictions (predictions.csv) do not match its card"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_refused_with_one_clear_sentence(cnn_copy, damage):
    harm, expected = DAMAGE[damage]
    harm(cnn_copy)
    with pytest.raises(CheckpointError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")) as error:
        open_checkpoint(cnn_copy)
    message = str(error.value)
    assert "\n" not in message and message.endswith(".") and "Traceback" not in message


def test_the_network_is_built_from_the_card_not_from_todays_registry(cnn_copy, monkeypatch):
    import core.registry
    from core.models import CustomCNN

    checkpoint = open_checkpoint(cnn_copy)
    entry = core.registry.REGISTRY["cnn"]
    edited = core.registry.REGISTRY | {"cnn": dataclasses.replace(entry, architecture="SeedEnsemble", options={"member": "CustomCNN", "count": 2})}
    monkeypatch.setattr(core.registry, "REGISTRY", edited)
    assert type(load_model(checkpoint)) is CustomCNN  # from the card, whatever the registry says now
    with pytest.raises(CheckpointError, match=r"holds a CustomCNN\(\), but the registry now describes a SeedEnsemble\(member='CustomCNN', count=2\)"):
        open_checkpoint(cnn_copy)


def test_weights_changed_after_opening_are_refused_at_load(cnn_copy):
    checkpoint = open_checkpoint(cnn_copy)
    _flip_bytes(cnn_copy / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match="do not match its card"):
        load_model(checkpoint)


def test_a_checkpoint_in_the_wrong_folder_is_refused(cnn_copy):
    with pytest.raises(CheckpointError, match="is of model 'cnn', not the resnet18's"):
        open_checkpoint(cnn_copy, expected_name="resnet18")


def test_readme_results_tables_are_the_ones_the_checkpoints_give():
    from scripts.results_table import END, ROBUST_END, ROBUST_START, START, results_table, robustness_table

    readme = (CHECKPOINTS_DIR.parent / "README.md").read_text()
    assert readme.split(START)[1].split(END)[0].strip() == results_table()
    assert readme.split(ROBUST_START)[1].split(ROBUST_END)[0].strip() == robustness_table()
