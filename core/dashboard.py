"""Streamlit glue shared by the pages: cached checkpoints, models, sweeps and resamples, and the one
current threshold per model (st.session_state["threshold_<model>"], kept across pages)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from torch import nn

from core.checkpoints import CHECKPOINTS_DIR, load_card, load_model, load_predictions
from core.evaluation import OPERATING_POINT_HELP, OPERATING_POINT_LABELS, bootstrap_resamples, split_arrays
from core.metrics import Resamples, Sweep, interval, paired_bootstrap_differences, roc_auc, sweep

TEST_IMAGES = Path(__file__).resolve().parent.parent / "assets" / "pneumoniamnist_test.npz"
SPLIT_LABELS = {"test": "Test", "val": "Validation"}
DISCLAIMER = ("Research demonstration on a public dataset (PneumoniaMNIST: paediatric, one centre, 28×28 pixels). "
              "Not a medical device; not for diagnosis.")


@st.cache_resource(show_spinner=False)
def model_names() -> list[str]:
    """Committed checkpoints, smallest model first."""
    folders = [p.parent for p in CHECKPOINTS_DIR.glob("*/card.json")]
    return [f.name for f in sorted(folders, key=lambda f: load_card(f)["trainable_parameters"])]


@st.cache_resource(show_spinner=False)
def card(name: str) -> dict:
    return load_card(CHECKPOINTS_DIR / name)


def display_name(name: str) -> str:
    return card(name)["display_name"]


@st.cache_resource(show_spinner=False)
def predictions(name: str) -> pd.DataFrame:
    return load_predictions(CHECKPOINTS_DIR / name)


@st.cache_resource(show_spinner="Loading the model…")
def model(name: str) -> nn.Module:
    return load_model(CHECKPOINTS_DIR / name)


@dataclass(frozen=True)
class SplitView:
    """One model's committed predictions on one split, with everything a threshold move needs precomputed."""

    labels: np.ndarray
    scores: np.ndarray
    sweep: Sweep
    auc: float
    auc_interval: tuple[float, float]
    resamples: Resamples


@st.cache_resource(show_spinner="Precomputing threshold sweep and bootstrap…")
def split_view(name: str, split: str) -> SplitView:
    labels, scores = split_arrays(predictions(name), split)
    resamples = bootstrap_resamples(labels, scores)
    return SplitView(labels, scores, sweep(labels, scores), roc_auc(labels, scores), interval(resamples.auc()), resamples)


@st.cache_data(show_spinner="Paired bootstrap…", max_entries=64)
def paired_differences(first: str, second: str, split: str, threshold_first: float, threshold_second: float) -> dict:
    a, b = split_view(first, split), split_view(second, split)
    return paired_bootstrap_differences(a.labels, a.scores, b.scores, threshold_first, threshold_second)


@st.cache_resource(show_spinner=False)
def test_images() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 28x28 test images and labels (same order as the test predictions)."""
    with np.load(TEST_IMAGES) as data:
        return data["images"], data["labels"]


def threshold_key(name: str) -> str:
    return f"threshold_{name}"


def opening_threshold(name: str) -> float:
    metrics = card(name)["metrics"]
    return float(metrics["thresholds"][metrics["chosen_operating_point"]])


def current_threshold(name: str) -> float:
    """The model's threshold: set by the slider or a preset, else the operating point chosen on validation."""
    return float(st.session_state.setdefault(threshold_key(name), opening_threshold(name)))


def set_threshold(name: str, value: float) -> None:
    st.session_state[threshold_key(name)] = float(value)


def threshold_slider(name: str, label: str = "Decision threshold (probability of pneumonia)") -> float:
    current_threshold(name)
    return st.slider(label, 0.0, 1.0, step=0.001, format="%.3f", key=threshold_key(name), persist_state="session")


def preset_buttons(name: str) -> None:
    """One button per operating point chosen on validation; a click moves the model's threshold there."""
    thresholds = card(name)["metrics"]["thresholds"]
    columns = st.columns(len(thresholds))
    for column, (point, value) in zip(columns, thresholds.items()):
        column.button(f"{OPERATING_POINT_LABELS[point]}: {value:.3f}", key=f"preset_{name}_{point}", on_click=set_threshold,
                      args=(name, value), width="stretch", help=OPERATING_POINT_HELP[point])


ENTRY_RAN = "_entry_script_ran"
DEEP_LINK = "_requested_page"


def through_entry_script(page_file: str) -> None:
    """Route a page request through streamlit_app.py when it bypassed it.

    Because the project has a pages/ folder, a fresh server starts in Streamlit's legacy mode, where a first
    request for a page URL runs that page alone: no navigation, no page config. Go through the entry script once
    (its st.navigation ends legacy mode for the process), which then forwards to the page that was asked for.
    """
    if ENTRY_RAN not in st.session_state:
        st.session_state[DEEP_LINK] = Path(page_file).name
        st.switch_page("streamlit_app.py")


def enlarge(image: np.ndarray, factor: int = 8) -> np.ndarray:
    """Nearest-neighbour enlargement, so a 28x28 image shows its real pixels."""
    return np.kron(image, np.ones((factor, factor), dtype=image.dtype))
