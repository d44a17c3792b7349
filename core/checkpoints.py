"""A checkpoint is a folder: model.safetensors (weights), card.json (how it was made, metrics, thresholds)
and predictions.csv (validation and test probabilities with labels, so the app needs no dataset)."""

import json
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from core.io import atomic_write_bytes
from core.models import build_model

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"
PREDICTIONS_FILE = "predictions.csv"
CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


def save_checkpoint(folder: Path, model: nn.Module, card: dict, predictions: pd.DataFrame) -> dict:
    """Write weights, predictions, then the card (last, so a complete card means a complete folder)."""
    folder = Path(folder)
    weights = save_safetensors({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    atomic_write_bytes(folder / WEIGHTS_FILE, weights)
    atomic_write_bytes(folder / PREDICTIONS_FILE, predictions.to_csv(index=False, float_format="%.17g").encode())
    card = card | {"file_size_bytes": len(weights)}
    atomic_write_bytes(folder / CARD_FILE, (json.dumps(card, indent=2) + "\n").encode())
    return card


def load_card(folder: Path) -> dict:
    return json.loads((Path(folder) / CARD_FILE).read_text())


def load_predictions(folder: Path) -> pd.DataFrame:
    return pd.read_csv(Path(folder) / PREDICTIONS_FILE)


def load_model(folder: Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model named in the card and load its weights (safetensors: no pickle), in eval mode."""
    model = build_model(load_card(folder)["architecture"])
    model.load_state_dict(load_safetensors((Path(folder) / WEIGHTS_FILE).read_bytes()))
    return model.to(device).eval()
