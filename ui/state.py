"""Per-session state: each model's one threshold (st.session_state["threshold_<model>"], kept across pages), and the
shareable link. SHAREABLE lists every page's shareable widgets, once: a link restores them, with each model's
threshold, and the URL follows them as they change."""

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from core.reporting import OUTCOMES
from ui import resources, routing

SPLIT_LABELS = {"test": "Test", "val": "Validation"}
RAW_KEY = "show_raw_scores"
PREDICT_SOURCES = ("Upload an X-ray", "Sample from the test split")
CALIBRATION_SCALES = ("Calibrated", "Raw model score")
EVALUATE_KINDS = ("A zip, or X-ray files", "A folder")
RESTORED = "_url_restored"


def threshold_key(name: str) -> str:
    return f"threshold_{name}"


def current_threshold(name: str) -> float:
    """The model's threshold: set by a slider, a preset or a link, else the operating point chosen on validation."""
    return float(st.session_state.setdefault(threshold_key(name), resources.card(name).opening_threshold))


def set_threshold(name: str, value: float) -> None:
    """The one place a threshold changes; the URL follows at once (fragment reruns skip the page's top)."""
    st.session_state[threshold_key(name)] = float(value)
    st.query_params[f"t_{name}"] = _threshold_text(value)


def reset_thresholds(names: list[str]) -> None:
    """Every model back to the operating point the app opens at (chosen on validation)."""
    for name in names:
        set_threshold(name, resources.card(name).opening_threshold)


@dataclass(frozen=True)
class Shared:
    """One widget a link carries: its key, and how the link's text becomes its value (None: not a valid one)."""

    key: str
    parse: Callable[[str], object]


def _model(text: str):
    return text if text in resources.model_names() else None


def _one_of(*options: str) -> Callable[[str], str | None]:
    return lambda text: text if text in options else None


def _integer(text: str, low: int, high: int) -> int | None:
    """A plain decimal integer within [low, high] (not "²", which isdigit() accepts and int() refuses)."""
    return int(text) if text.isascii() and text.isdecimal() and len(text) <= 6 and low <= int(text) <= high else None


def _test_case(text: str) -> int | None:
    return _integer(text, 0, len(resources.test_images()[1]) - 1)


def _percent(text: str) -> int | None:
    return _integer(text, 1, 99)


def _flag(text: str) -> bool | None:
    return {"1": True, "0": False}.get(text)


_SPLIT = _one_of(*SPLIT_LABELS)
SHAREABLE: dict[str, dict[str, Shared]] = {  # page file -> URL parameter -> widget
    "threshold_explorer.py": {"model": Shared("explorer_model", _model), "split": Shared("explorer_split", _SPLIT)},
    "comparison.py": {"a": Shared("compare_first", _model), "b": Shared("compare_second", _model),
                      "split": Shared("comparison_split", _SPLIT)},
    "predict.py": {"source": Shared("predict_source", _one_of(*PREDICT_SOURCES)), "case": Shared("predict_sample", _test_case),
                   "raw": Shared(RAW_KEY, _flag)},
    "case_gallery.py": {"model": Shared("gallery_model", _model), "outcome": Shared("gallery_outcome", _one_of(*OUTCOMES)),
                        "case": Shared("gallery_case", _test_case), "raw": Shared(RAW_KEY, _flag)},
    "calibration.py": {"split": Shared("calibration_split", _SPLIT), "scale": Shared("calibration_scale", _one_of(*CALIBRATION_SCALES)),
                       "prevalence": Shared("calibration_prevalence", _percent)},
    "decision_curve.py": {"split": Shared("decision_split", _SPLIT)},
    "robustness.py": {"model": Shared("robustness_model", _model), "split": Shared("robustness_split", _SPLIT)},
    "model_card.py": {"model": Shared("card_model", _model)},
    "heatmap_trust.py": {"model": Shared("trust_model", _model)},
    "evaluate.py": {"upload": Shared("evaluate_kind", _one_of(*EVALUATE_KINDS)), "site": Shared("evaluate_site", _flag)},
}


def _threshold_text(value: float) -> str:
    """Six significant digits: a preset chosen on validation survives the link (three could move it past a case)."""
    return f"{value:.6g}"


def _as_text(value) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


def sync_url(page: str) -> None:
    """On a session's first page, set that page's shareable widgets and every threshold from the link that opened
    it (what is not valid is ignored); then write the page's current state back, so the URL is always a link to it."""
    shared = SHAREABLE.get(page, {})
    if RESTORED not in st.session_state:
        st.session_state[RESTORED] = True
        params = routing.linked_query()
        for param, widget in shared.items():
            value = widget.parse(params[param]) if param in params else None
            if value is not None:
                st.session_state[widget.key] = value
        for name in resources.model_names():
            try:
                value = float(params.get(f"t_{name}", "nan"))
            except ValueError:
                continue
            if 0 <= value <= 1:
                st.session_state[threshold_key(name)] = value
    url = {param: _as_text(st.session_state[widget.key]) for param, widget in shared.items()
           if st.session_state.get(widget.key) is not None}
    url |= {f"t_{name}": _threshold_text(st.session_state[threshold_key(name)]) for name in resources.model_names()
            if threshold_key(name) in st.session_state}
    if st.query_params.to_dict() != url:
        st.query_params.from_dict(url)


def session_memo(slot: str, key, compute):
    """compute(), kept in this session only (never shared) until key changes: an upload's readings survive an opacity
    move without being held anywhere another session could see."""
    memo = st.session_state.get(f"_memo_{slot}")
    if memo is None or memo[0] != key:
        memo = (key, compute())
        st.session_state[f"_memo_{slot}"] = memo
    return memo[1]
