"""The committed checkpoints: complete cards, predictions consistent with the cards, and with the weights on real data."""

import json

import pytest
import torch

from core.checkpoints import CHECKPOINTS_DIR, load_card, load_model, load_predictions
from core.data import load_dataset
from core.evaluation import compare_with_committed, predictions_frame, summarise
from core.models import count_trainable_parameters
from tests.conftest import REAL_DATA_ROOT, needs_real_data

def _as_json(metrics: dict) -> str:
    """Compare as stored: tuples become lists and nan equals nan."""
    return json.dumps(metrics, sort_keys=True)


COMMITTED = sorted(p.parent for p in CHECKPOINTS_DIR.glob("*/card.json"))


def test_both_models_are_committed():
    assert {folder.name for folder in COMMITTED} == {"cnn", "resnet18"}


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_card_describes_the_weights(folder):
    card = load_card(folder)
    for key in ("architecture", "trainable_parameters", "file_size_bytes", "config", "initialisation", "data",
                "training", "metrics", "departures_from_report"):
        assert key in card, key
    assert card["file_size_bytes"] == (folder / "model.safetensors").stat().st_size
    assert count_trainable_parameters(load_model(folder)) == card["trainable_parameters"]
    assert len(card["data"]["sha256"]) == 64 and card["training"]["device"]
    assert len(card["training"]["history"]) == sum(stage["epochs"] for stage in card["config"]["stages"])


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_card_metrics_are_what_the_committed_predictions_give(folder):
    card, predictions = load_card(folder), load_predictions(folder)
    counts = predictions.groupby(["split", "label"]).size().to_dict()
    assert counts == {("test", 0): 234, ("test", 1): 390, ("val", 0): 135, ("val", 1): 389}
    assert _as_json(summarise(predictions)) == _as_json(card["metrics"])


@needs_real_data
@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_committed_predictions_are_what_the_committed_weights_give_on_the_real_data(folder):
    recomputed = predictions_frame(load_model(folder), load_dataset(REAL_DATA_ROOT), torch.device("cpu"))
    assert compare_with_committed(recomputed, load_predictions(folder), load_card(folder)) == []


def test_comparison_reports_a_tampered_prediction():
    folder = CHECKPOINTS_DIR / "cnn"
    committed = load_predictions(folder)
    tampered = committed.copy()
    tampered.loc[tampered.index[-1], "probability"] = 1 - tampered["probability"].iloc[-1]
    problems = compare_with_committed(tampered, committed, load_card(folder))
    assert problems and "probabilities differ" in problems[0]


def test_readme_results_table_is_the_one_the_cards_give():
    from scripts.results_table import END, START, results_table

    readme = (CHECKPOINTS_DIR.parent / "README.md").read_text()
    assert readme.split(START)[1].split(END)[0].strip() == results_table()
