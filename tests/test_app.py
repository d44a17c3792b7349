"""Every page through streamlit's AppTest: renders, and shows exactly what core computes."""

import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image
from sklearn.metrics import confusion_matrix, roc_auc_score
from streamlit.testing.v1 import AppTest

from core.assets import load_test_images
from core.checkpoints import CHECKPOINTS_DIR, CHECKPOINTS_ENV, open_checkpoint, trained_models
from core.evaluation import OPERATING_POINT_LABELS, recalibration, split_arrays
from core.imaging import to_dataset_image
from core.inference import load_model, predict_logits, probabilities
from core.metrics import counts_at, operating_points
from core.registry import REGISTRY, spec
from tests.conftest import FIXTURES, REPO, committed_model
from ui import routing, state, widgets

PAGES = ["pages/overview.py", "pages/threshold_explorer.py", "pages/comparison.py", "pages/predict.py", "pages/evaluate.py", "pages/case_gallery.py",
         "pages/robustness.py", "pages/heatmap_trust.py", "pages/calibration.py", "pages/decision_curve.py", "pages/model_card.py"]
MODELS = list(trained_models(CHECKPOINTS_DIR))


def committed(model: str, split: str = "test"):
    return split_arrays(open_checkpoint(CHECKPOINTS_DIR / model).predictions, split)


def open_page(page: str) -> AppTest:
    """A fresh session at the page's URL, forwarded through the entry script as a first request is (ui.routing)."""
    return _opened_by_link(page.removeprefix("pages/"), {})


def rendered_confusion_counts(app: AppTest, index: int = 0) -> dict[str, int]:
    """TN/FP/FN/TP as drawn in the index-th confusion-matrix figure on the page."""
    matrices = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    matrices = [m for m in matrices if m["data"][0]["type"] == "heatmap"]
    cells = [cell for row in matrices[index]["data"][0]["text"] for cell in row]
    return {re.search(r"<b>(\w+)</b>", c).group(1).lower(): int(c.split("<br>")[1]) for c in cells}


def test_every_page_renders_without_exception_or_error():
    app = open_page(PAGES[0])
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, (page, app.exception)
        assert not app.error, page


@pytest.mark.parametrize("model", MODELS)
def test_moving_the_slider_draws_the_counts_core_computes(model):
    app = open_page("pages/threshold_explorer.py")
    app.selectbox(key="explorer_model").set_value(model).run()
    labels, scores = committed(model)
    for threshold in (0.05, 0.3, 0.777, 0.95):
        app.slider(key=widgets.slider_key("explorer", model)).set_value(threshold).run()
        expected = {k: int(v) for k, v in counts_at(labels, scores, threshold).items()}
        assert rendered_confusion_counts(app) == expected, threshold
        sentence = f"misses {expected['fn']} of {expected['fn'] + expected['tp']} pneumonia cases and flags {expected['fp']} of"
        assert any(sentence in m.value for m in app.markdown), threshold


@pytest.mark.parametrize("model", MODELS)
def test_each_preset_sets_the_threshold_chosen_on_validation(model):
    app = open_page("pages/threshold_explorer.py")
    app.selectbox(key="explorer_model").set_value(model).run()
    chosen = operating_points(*committed(model, "val"))
    labels = [b.label for b in app.button if b.key.startswith(f"preset_{model}_")]
    assert len(labels) == len(set(chosen.values()))  # rules that chose the same threshold share one button
    for point, threshold in chosen.items():
        first = next(p for p, t in chosen.items() if t == threshold)
        button = app.button(key=f"preset_{model}_{first}")
        assert f"{threshold:.3f}" in button.label and all(
            OPERATING_POINT_LABELS[p] in button.label for p, t in chosen.items() if t == threshold)
        button.click().run()
        assert app.session_state[state.threshold_key(model)] == pytest.approx(threshold, abs=1e-12)
        assert app.slider(key=widgets.slider_key("explorer", model)).value == pytest.approx(threshold, abs=1e-12)


def test_one_threshold_per_model_is_shared_by_every_page_and_reset_goes_back_to_validations_choice():
    model = MODELS[0]
    labels, scores = committed(model)
    app = open_page("pages/threshold_explorer.py")
    app.slider(key=widgets.slider_key("explorer", model)).set_value(0.2).run()
    app.switch_page("pages/case_gallery.py").run()
    assert app.slider(key=widgets.slider_key("gallery", model)).value == 0.2
    app.slider(key=widgets.slider_key("gallery", model)).set_value(0.6).run()
    app.switch_page("pages/comparison.py").run()
    assert app.slider(key=widgets.slider_key("compare", model)).value == 0.6
    assert rendered_confusion_counts(app, MODELS.index(model)) == {k: int(v) for k, v in counts_at(labels, scores, 0.6).items()}
    app.button(key="compare_reset").click().run()
    card = open_checkpoint(CHECKPOINTS_DIR / model).card
    assert app.session_state[state.threshold_key(model)] == card.opening_threshold
    app.switch_page("pages/threshold_explorer.py").run()
    assert app.slider(key=widgets.slider_key("explorer", model)).value == card.opening_threshold


def test_comparison_says_whether_differences_are_beyond_chance():
    from core.evaluation import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
    from core.metrics import paired_bootstrap_differences

    app = open_page("pages/comparison.py")
    app.slider(key=widgets.slider_key("compare", MODELS[0])).set_value(0.05).run()  # far apart: a difference beyond chance
    verdicts = next(t.value for t in app.table if "Beyond chance?" in t.value.columns)
    thresholds = [0.05, open_checkpoint(CHECKPOINTS_DIR / MODELS[1]).card.opening_threshold]
    (labels, first), (_, second) = committed(MODELS[0]), committed(MODELS[1])
    expected = paired_bootstrap_differences(labels, first, second, *thresholds, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
    names = {"AUC": "auc", "Sensitivity": "sensitivity", "Specificity": "specificity", "Balanced accuracy": "balanced_accuracy"}
    assert set(verdicts.index) == set(names)
    for label, key in names.items():
        assert verdicts.loc[label, "Beyond chance?"] == ("yes" if expected[key]["excludes_zero"] else "no")
    assert "yes" in set(verdicts["Beyond chance?"]) and "no" in set(verdicts["Beyond chance?"])
    assert set(verdicts["Beyond chance?"]) <= {"yes", "no"}


def _shown_probabilities(app: AppTest, raw: bool = True) -> dict[str, float]:
    """Each model's probability as the page shows it: the raw score (after switching the page to it) or calibrated."""
    if app.toggle and app.toggle(key=state.RAW_KEY).value != raw:
        app.toggle(key=state.RAW_KEY).set_value(raw).run()
    return {m.label.split(":")[0]: float(m.value) for m in app.metric if "P(pneumonia)" in m.label}


def test_a_sample_image_gets_exactly_cores_probability_from_each_model():
    app = open_page("pages/predict.py")
    app.radio(key="predict_source").set_value("Sample from the test split").run()
    app.selectbox(key="predict_sample").set_value(17).run()
    image = load_test_images()[0][17]
    calibrated, raw = _shown_probabilities(app, raw=False), _shown_probabilities(app, raw=True)
    for model in MODELS:
        checkpoint = open_checkpoint(CHECKPOINTS_DIR / model)
        expected = probabilities(predict_logits(load_model(checkpoint), to_dataset_image(image)[None]))[0]
        assert raw[spec(model).display_name] == pytest.approx(expected, abs=5e-4)  # shown to 3 decimals
        assert expected == pytest.approx(committed(model)[1][17], abs=1e-5)
        assert calibrated[spec(model).display_name] == pytest.approx(recalibration(checkpoint.card).from_probability(expected), abs=5e-4)


def test_an_uploaded_png_is_read_by_every_model():
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 400), dtype=np.uint8)).save(buffer, format="PNG")
    app = open_page("pages/predict.py")
    app.file_uploader(key="upload").set_value(("xray.png", buffer.getvalue(), "image/png")).run()
    assert not app.exception and not app.error
    assert len(_shown_probabilities(app)) == len(MODELS)


@pytest.mark.parametrize("payload", [b"%PDF-1.4 not an x-ray", b"", b"\x89PNG\r\n\x1a\n truncated"])
def test_a_file_that_is_not_an_image_gets_a_clear_message(payload):
    app = open_page("pages/predict.py")
    app.file_uploader(key="upload").set_value(("scan.png", payload, "image/png")).run()
    assert not app.exception
    assert len(app.error) == 1 and app.error[0].value.startswith("This file is not an image the app can read.")
    assert not _shown_probabilities(app)


def test_gallery_groups_test_cases_by_outcome_at_the_threshold():
    model = MODELS[0]
    app = open_page("pages/case_gallery.py")
    app.slider(key=widgets.slider_key("gallery", model)).set_value(0.5).run()
    labels, scores = committed(model)
    counts = counts_at(labels, scores, 0.5)
    options = app.radio(key="gallery_outcome").options
    for outcome in ("TP", "FP", "FN", "TN"):
        assert any(o.endswith(f"({outcome}): {int(counts[outcome.lower()])}") for o in options)
    assert not app.exception


def test_the_explorer_opens_at_the_threshold_each_card_chose_on_validation():
    app = open_page("pages/threshold_explorer.py")
    for model in MODELS:
        app.selectbox(key="explorer_model").set_value(model).run()
        chosen = open_checkpoint(CHECKPOINTS_DIR / model).card
        assert app.slider(key=widgets.slider_key("explorer", model)).value == chosen.opening_threshold
        assert chosen.opening_threshold == chosen.metrics.thresholds["sensitivity_95"]


@pytest.mark.parametrize("requested", ["overview.py", "threshold_explorer.py", "comparison.py", "predict.py", "case_gallery.py", "gone.py"])
def test_a_page_url_opened_first_lands_on_that_page(requested):
    """A fresh server's first request for a page goes through the entry script (ui.routing.enter)."""
    app = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    app.session_state[routing.DEEP_LINK] = requested
    app.run()
    assert not app.exception and routing.DEEP_LINK not in app.session_state
    titles = {"threshold_explorer.py": "Threshold explorer", "comparison.py": "Compare models", "predict.py": "Predict an X-ray",
              "case_gallery.py": "Case gallery"}
    assert app.title[0].value == titles.get(requested, "Pneumonia X-ray Explorer")


@pytest.fixture
def cnn_damaged(tmp_path, monkeypatch, request):
    """Checkpoints where the CNN's folder has one kind of damage and the ResNet-18's is intact."""
    from tests.test_checkpoints import DAMAGE

    shutil.copytree(CHECKPOINTS_DIR / "cnn", tmp_path / "cnn")
    (tmp_path / "resnet18").symlink_to(CHECKPOINTS_DIR / "resnet18")
    DAMAGE[request.param][0](tmp_path / "cnn")
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path))
    st.cache_resource.clear()
    yield request.param
    st.cache_resource.clear()


@pytest.mark.parametrize("cnn_damaged", ["flipped weight bytes"], indirect=True)
def test_a_broken_checkpoint_disables_its_model_and_every_page_keeps_working(cnn_damaged):
    app = open_page(PAGES[0])
    for page in PAGES:
        app.switch_page(page).run()
        assert not app.exception, page
        assert any(w.value.startswith("The ") and "cnn" in w.value.lower() for w in app.warning), (page, [w.value for w in app.warning])
        if page == "pages/comparison.py":
            assert [e.value for e in app.error] == ["This page needs 2 working models; 1 is available."]
            continue
        assert not app.error, page
        if page == "pages/threshold_explorer.py":
            assert app.selectbox(key="explorer_model").options == ["ResNet-18"]
            assert rendered_confusion_counts(app)["tp"] > 0
        if page == "pages/predict.py":
            app.radio(key="predict_source").set_value("Sample from the test split").run()
            assert list(_shown_probabilities(app)) == ["ResNet-18"]
        if page == "pages/overview.py":
            assert list(app.table[1].value.index) == ["ResNet-18"]


@pytest.mark.parametrize("cnn_damaged", ["truncated weights", "broken card", "missing predictions"], indirect=True)
def test_every_kind_of_damage_disables_the_model_the_same_way(cnn_damaged):
    """Each damage is refused by open_checkpoint (test_checkpoints); here each reaches the app as the walk's does."""
    app = open_page(PAGES[0])
    assert not app.exception and not app.error
    assert any(w.value.startswith("The ") and "cnn" in w.value.lower() for w in app.warning)
    assert list(app.table[1].value.index) == ["ResNet-18"]

def test_the_overview_renders_without_importing_torch():
    script = ("import sys; from streamlit.testing.v1 import AppTest; app = AppTest.from_file('streamlit_app.py', default_timeout=120); "
              "app.run(); assert not app.exception; assert app.title[0].value == 'Pneumonia X-ray Explorer'; "
              "print(sorted(m for m in ('torch', 'torchvision', 'pytorch_grad_cam') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


def test_no_file_but_the_registry_names_a_model():
    names = [f'"{name}"' for name in REGISTRY] + [f"'{name}'" for name in REGISTRY]
    sources = [REPO / "streamlit_app.py", REPO / "train.py", *(REPO / "ui").glob("*.py"), *(REPO / "pages").glob("*.py"),
               *(p for p in (REPO / "core").glob("*.py") if p.name != "registry.py")]
    assert [(p.name, n) for p in sources for n in names if n in p.read_text()] == []


def test_the_library_never_imports_streamlit():
    assert [p.name for p in (REPO / "core").glob("*.py") if re.search(r"^\s*(import|from)\s+streamlit", p.read_text(), re.M)] == []


def _upload(name: str, data: bytes, mime: str = "application/octet-stream") -> AppTest:
    app = open_page("pages/predict.py")
    return app.file_uploader(key="upload").set_value((name, data, mime)).run()


def _everything_on_the_page(app: AppTest) -> str:
    """Every element the page sent, as text (protobuf), recursively."""
    parts = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(app._tree)
    return "\n".join(parts)


def test_a_phi_bearing_dicom_is_read_and_shows_no_identifier_anywhere():
    from tests.uploads import PHI, dicom, xray

    app = _upload("DOE_JANE_PHI-5551234.dcm", dicom(xray(22, 256), modality="CR", body_part="CHEST"), "application/dicom")
    assert not app.exception and not app.error
    assert [s.value.split(":")[0] for s in app.success] == ["**Accepted**"]
    assert len(_shown_probabilities(app)) == len(MODELS)
    page = _everything_on_the_page(app)
    assert "DICOM, 256×256 pixels" in page and "CHEST" in page
    for identifier in [*PHI.values(), "DOE", "JANE", "5551234", "DOE_JANE_PHI-5551234.dcm"]:
        assert identifier not in page, identifier


def test_a_file_of_a_type_the_browser_would_not_offer_gets_a_sentence_not_an_exception():
    app = _upload("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00 a windows program", "application/x-msdownload")
    assert not app.exception
    assert [e.value for e in app.error] == ["This file is not an image the app can read. It reads PNG, JPEG, TIFF, BMP, WebP, GIF "
                                            "and DICOM; please upload a chest X-ray in one of those."]
    assert not _shown_probabilities(app)


def test_a_refused_upload_gets_no_reading():
    from tests.uploads import text_page

    app = _upload("letter.jpg", text_page(), "image/jpeg")
    assert not app.exception and "white page" in app.error[0].value and not _shown_probabilities(app)


def test_a_flagged_upload_is_read_under_a_warning_that_says_why():
    from tests.uploads import encoded, xray

    app = _upload("negative.png", encoded(255 - xray(13)), "image/png")
    assert not app.exception and not app.error
    assert any("outside what the models know" in w.value and "looks inverted" in w.value for w in app.warning)
    assert len(_shown_probabilities(app)) == len(MODELS)


def test_every_odd_or_hostile_file_gets_a_sentence_or_a_flagged_reading_never_an_exception():
    from tests.uploads import hostile_files

    app = open_page("pages/predict.py")
    outcomes = {}
    for name, data in hostile_files().items():
        app.file_uploader(key="upload").set_value((name, data, "application/octet-stream")).run()
        assert not app.exception, (name, app.exception)
        shown = _shown_probabilities(app)
        if shown:
            outcomes[name] = "flagged" if app.warning else "accepted"
            assert len(shown) == len(MODELS)
        else:
            assert len(app.error) == 1 and app.error[0].value.endswith(".") and app.error[0].value != routing.PAGE_ERROR, name
            assert "Traceback" not in app.error[0].value and "/" not in app.error[0].value.replace("1–5", ""), name
            outcomes[name] = "refused"
    assert len(outcomes) >= 34
    accepted = {name for name, outcome in outcomes.items() if outcome == "accepted"}
    assert accepted <= {"cmyk.jpg", "palette.png", "animated.gif", "no-preamble.dcm", "renamed-dicom.png", "renamed-png.dcm"}


def _calibrated(model: str, split: str):
    from core.evaluation import recalibration

    checkpoint = open_checkpoint(CHECKPOINTS_DIR / model)
    rows = checkpoint.predictions[checkpoint.predictions["split"] == split]
    return rows["label"].to_numpy(), rows["probability"].to_numpy(), recalibration(checkpoint.card)(rows["logit"].to_numpy())


def test_the_calibration_page_shows_scikit_learns_brier_and_the_ece_of_its_reliability_bins():
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    app = open_page("pages/calibration.py")
    assert not app.exception and not app.error
    table = next(t.value for t in app.table if "Brier score" in t.value.columns)
    for model in MODELS:
        labels, raw, calibrated = _calibrated(model, "test")
        for label, shown in (("Raw model score", raw), ("Calibrated", calibrated)):
            row = table.loc[(spec(model).display_name, label)]
            observed, predicted = calibration_curve(labels, shown, n_bins=10, strategy="uniform")
            counts = np.histogram(shown, bins=np.linspace(0, 1, 11))[0]  # ties at edges are rare here
            ece = float(np.sum(counts[counts > 0] / len(labels) * np.abs(observed - predicted)))
            assert row["ECE"].startswith(f"{ece:.3f} (") and row["Brier score"].startswith(f"{brier_score_loss(labels, shown):.3f} (")


def test_the_decision_curve_page_reads_the_net_benefit_at_each_models_threshold():
    from core.metrics import net_benefit

    app = open_page("pages/decision_curve.py")
    assert not app.exception and not app.error
    text = " ".join(m.value for m in app.markdown)
    for model in MODELS:
        labels, _, calibrated = _calibrated(model, "test")
        card = open_checkpoint(CHECKPOINTS_DIR / model).card
        point = float(_recalibrated_threshold(card, card.opening_threshold))
        assert f"(calibrated probability {point:.2f}): net benefit {net_benefit(labels, calibrated, [point])[0]:.3f}" in text


def _recalibrated_threshold(card, threshold):
    from core.evaluation import recalibration

    return recalibration(card)(np.log(threshold / (1 - threshold)))


def test_the_model_card_page_is_written_from_the_card():
    app = open_page("pages/model_card.py")
    assert not app.exception and not app.error
    for model in MODELS:
        app.selectbox(key="card_model").set_value(model).run()
        card = open_checkpoint(CHECKPOINTS_DIR / model).card
        text = " ".join(m.value for m in app.markdown)
        assert f"AUC {card.metrics.test.auc:.3f} (95% CI {card.metrics.test.auc_ci95[0]:.3f}–{card.metrics.test.auc_ci95[1]:.3f})" in text
        assert all(note in text for note in card.departures_from_report)
        assert "TRIPOD+AI item" in app.table[-1].value.index.name


def _a_false_positive(model: str) -> int:
    labels, scores = committed(model)
    return int(np.flatnonzero((labels == 0) & (scores >= open_checkpoint(CHECKPOINTS_DIR / model).card.opening_threshold))[0])


SHARED_VALUES = {  # page -> widget key -> a value a user could have chosen that is not the page's default
    "threshold_explorer.py": lambda: {"explorer_model": MODELS[-1], "explorer_split": "val"},
    "comparison.py": lambda: {"compare_first": MODELS[-1], "compare_second": MODELS[0], "comparison_split": "val"},
    "predict.py": lambda: {"predict_source": state.PREDICT_SOURCES[1], "predict_sample": 17, state.RAW_KEY: True},
    "case_gallery.py": lambda: {"gallery_model": MODELS[-1], "gallery_outcome": "FP", "gallery_case": _a_false_positive(MODELS[-1]),
                                state.RAW_KEY: True},
    "calibration.py": lambda: {"calibration_split": "val", "calibration_scale": state.CALIBRATION_SCALES[1], "calibration_prevalence": 30},
    "decision_curve.py": lambda: {"decision_split": "val"},
    "robustness.py": lambda: {"robustness_model": MODELS[-1], "robustness_split": "val"},
    "model_card.py": lambda: {"card_model": MODELS[-1]},
    "heatmap_trust.py": lambda: {"trust_model": MODELS[-1]},
    "evaluate.py": lambda: {"evaluate_kind": state.EVALUATE_KINDS[1], "evaluate_site": True},
}


def _opened_by_link(page: str, link: dict) -> AppTest:
    """A fresh session opened at a page's URL with a link's query parameters: the page and its parameters held while the
    request is forwarded to the entry script, as ui.routing does with a first request."""
    app = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    app.session_state[routing.DEEP_LINK], app.session_state[routing.DEEP_LINK_QUERY] = page, link
    return app.run()


def test_every_page_declares_what_a_link_carries():
    assert set(SHARED_VALUES) == set(state.SHAREABLE) == {p.name for p in (REPO / "pages").glob("*.py")} - {"overview.py"}


@pytest.mark.parametrize("page", list(SHARED_VALUES))
def test_a_link_copied_from_any_page_restores_what_it_showed(page):
    values = SHARED_VALUES[page]()
    app = open_page(f"pages/{page}")
    for key, value in values.items():
        app.session_state[key] = value
    app.session_state[state.threshold_key(MODELS[0])] = 0.25
    app.run()
    link = {key: app.query_params[key] for key in app.query_params}
    thresholds = {f"t_{model}" for model in MODELS}
    assert set(state.SHAREABLE[page]) | {f"t_{MODELS[0]}"} <= set(link) <= set(state.SHAREABLE[page]) | thresholds  # this page's only
    opened = _opened_by_link(page, link)
    assert not opened.exception and not opened.error
    assert {key: opened.session_state[key] for key in values} == values
    assert opened.session_state[state.threshold_key(MODELS[0])] == 0.25


def test_the_url_follows_a_threshold_moved_inside_a_fragment():
    app = _opened_by_link("threshold_explorer.py", {"model": MODELS[-1], "split": "val", "t_" + MODELS[-1]: "0.8"})
    assert app.selectbox(key="explorer_model").value == MODELS[-1] and app.radio(key="explorer_split").value == "val"
    assert app.slider(key=widgets.slider_key("explorer", MODELS[-1])).value == 0.8
    app.slider(key=widgets.slider_key("explorer", MODELS[-1])).set_value(0.3).run()
    assert app.query_params["t_" + MODELS[-1]] == "0.3" and app.query_params["model"] == MODELS[-1]


def test_a_link_with_nonsense_is_ignored_not_fatal():
    app = _opened_by_link("threshold_explorer.py", {"model": "gpt-9", "split": "train", "t_" + MODELS[0]: "banana", "t_" + MODELS[-1]: "7"})
    assert not app.exception and not app.error
    assert app.selectbox(key="explorer_model").value == MODELS[0] and app.radio(key="explorer_split").value == "test"
    card = open_checkpoint(CHECKPOINTS_DIR / MODELS[0]).card
    assert app.session_state[state.threshold_key(MODELS[0])] == card.opening_threshold
    for page, link in (("case_gallery.py", {"case": "99999", "outcome": "XX", "raw": "maybe"}), ("predict.py", {"case": "²"}),
                       ("calibration.py", {"prevalence": "9" * 5000, "scale": "Purple"})):
        opened = _opened_by_link(page, link)
        assert not opened.exception and not opened.error, page


def test_the_prevalence_slider_starts_at_each_splits_own_prevalence():
    app = open_page("pages/threshold_explorer.py")
    assert app.slider(key="prevalence_test").value == 62
    app.radio(key="explorer_split").set_value("val").run()
    assert app.slider(key="prevalence_val").value == 74


def test_the_predict_page_offers_the_case_report_and_a_legend_for_the_heatmaps():
    app = open_page("pages/predict.py")
    app.radio(key="predict_source").set_value("Sample from the test split").run()
    assert not app.exception
    assert {"predict_report_pdf", "predict_report_png"} <= {b.key for b in app.get("download_button")}
    assert any("Heatmap colour: blue" in c.value for c in app.caption)


def test_the_heatmap_page_shows_each_models_record_and_the_predict_page_links_to_it_with_the_verdicts():
    from core.explanations import depths_passed, read_record, verdict

    records = {m: read_record(CHECKPOINTS_DIR / m, open_checkpoint(CHECKPOINTS_DIR / m).card) for m in MODELS}
    app = open_page("pages/heatmap_trust.py")
    for model, record in records.items():
        assert any(verdict(record).sentence in m.value for m in app.markdown), model
        app.selectbox(key="trust_model").set_value(model).run()
        choice = next(t.value for t in app.table if "Passes both checks" in t.value.columns)
        assert len(choice) == len(record["candidates"])
        chosen = record["candidates"][record["chosen"]]
        row = choice.loc[next(i for i in choice.index if i.endswith("shown in the app"))]
        road = chosen["road"]
        assert row["ROAD (95% interval)"] == f"{road['mean']:.2f} ({road['ci95'][0]:.2f} to {road['ci95'][1]:.2f})"
        assert row["Randomisation passed at"] == f"{depths_passed(chosen)} of {len(record['depths'])} depths"
        assert record["why"] in " ".join(m.value for m in app.markdown)
    app.switch_page("pages/predict.py").run()
    app.radio(key="predict_source").set_value("Sample from the test split").run()
    (link,) = app.get("page_link")
    assert link.proto.page == "heatmap_trust"
    assert all(f"{spec(m).display_name}: {verdict(r).short}" in link.proto.label for m, r in records.items())


def _broken_chart(*args, **kwargs):
    raise RuntimeError("injected: /secret/path/module.py line 3")


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/calibration.py"])
def test_a_page_error_fails_the_test_that_meets_it(monkeypatch, page):
    """The overview runs inside the entry script's error handling (the others run alone in AppTest, as in Streamlit's
    legacy page mode); without the test flag its error would be a sentence, and `not app.exception` would pass."""
    monkeypatch.setattr(widgets, "chart", _broken_chart)
    app = open_page(page)
    assert len(app.exception) == 1
    assert routing.PAGE_ERROR not in [e.value for e in app.error]


def test_for_a_viewer_a_page_error_is_one_sentence_and_no_traceback(monkeypatch):
    monkeypatch.delenv(routing.RAISE_PAGE_ERRORS_ENV)
    monkeypatch.setattr(widgets, "chart", _broken_chart)
    app = open_page("pages/overview.py")
    assert not app.exception and [e.value for e in app.error] == [routing.PAGE_ERROR]
    assert not any("secret" in element.value for element in [*app.markdown, *app.caption, *app.error])


def _percent_and_interval(text: str) -> tuple[float, float, float]:
    value, low, high = re.match(r"([\d.]+)% \(([\d.]+)%–([\d.]+)%\)", text).groups()
    return float(value) / 100, float(low) / 100, float(high) / 100


def test_the_robustness_page_shows_what_the_perturbed_predictions_give():
    from core.perturbations import BY_NAME
    from core.robustness import split_logits

    app = open_page("pages/robustness.py")
    measured = [m for m in MODELS if open_checkpoint(CHECKPOINTS_DIR / m).card.robustness is not None]
    assert measured == MODELS  # every committed model is measured
    for split in ("test", "val"):
        app.radio(key="robustness_split").set_value(split).run()
        assert not app.exception and not app.error
        for model in measured:
            app.selectbox(key="robustness_model").set_value(model).run()
            checkpoint = open_checkpoint(CHECKPOINTS_DIR / model)
            labels = committed(model, split)[0]
            threshold = checkpoint.card.opening_threshold
            table = app.table[0].value
            for name, logits in split_logits(checkpoint.perturbed(), split).items():
                row = table.loc[BY_NAME[name].label]
                tn, fp, fn, tp = confusion_matrix(labels, 1 / (1 + np.exp(-logits)) >= threshold).ravel()
                sensitivity, low, high = _percent_and_interval(row["Sensitivity"])
                assert sensitivity == pytest.approx(tp / (tp + fn), abs=5e-4) and low <= sensitivity <= high
                assert _percent_and_interval(row["Specificity"])[0] == pytest.approx(tn / (tn + fp), abs=5e-4)
                assert float(row["AUC"].split()[0]) == pytest.approx(roc_auc_score(labels, logits), abs=5e-4)
            assert any(spec(model).display_name in m.value and ("weakest" in m.value or "does best" in m.value) for m in app.markdown)


def _cropped_jpeg(data: bytes, keep: float) -> bytes:
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    left, top = round(width * (1 - keep) / 2), round(height * (1 - keep) / 2)
    buffer = io.BytesIO()
    image.crop((left, top, width - left, height - top)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.mark.skipif(not FIXTURES.exists(), reason="needs ../shared/fixtures/cxr")
@pytest.mark.parametrize("fixture", ["kermany_NORMAL2-IM-1430-0001.jpeg", "kermany_person1951_bacteria_4882.jpeg"])
@pytest.mark.parametrize("keep", [1.0, 0.8])
def test_the_paediatric_fixtures_are_accepted_read_as_core_reads_them_and_framing_checked(fixture, keep):
    from core.imaging import decode

    data = (FIXTURES / fixture).read_bytes()
    data = data if keep == 1.0 else _cropped_jpeg(data, keep)
    app = _upload(fixture, data, "image/jpeg")
    assert app.success[0].value.startswith("**Accepted**") and not app.error
    assert not any("outside what the models know" in w.value for w in app.warning)  # warnings here are the framing check's
    image = to_dataset_image(decode(data).grey)
    for model in MODELS:
        expected = probabilities(predict_logits(committed_model(model), image[None]))[0]
        assert _shown_probabilities(app)[spec(model).display_name] == pytest.approx(expected, abs=5e-4)
    baselines = [m for m in MODELS if spec(m).report_baseline]
    assert not any(e.value.startswith(f"**{spec(m).display_name}**") for m in baselines for e in [*app.success, *app.warning])
    app.toggle(key="predict_check_baselines").set_value(True).run()  # the report's models are checked on request
    app.slider(key="cam_opacity").set_value(0.5).run()  # the request survives a rerun (the toggle stays drawn)
    app.run()
    for model, check in _torch_framing_checks(decode(data).grey, image).items():
        shown = [e for e in [*app.success, *app.warning] if e.value.startswith(f"**{spec(model).display_name}**")]
        assert len(shown) == 1, model
        assert ("the decision holds" in shown[0].value) == check.holds, (model, shown[0].value)
        low, high = check.probabilities.min(), check.probabilities.max()
        assert f"{low:.2f}–{high:.2f}" in shown[0].value


def _torch_framing_checks(grey: np.ndarray, image: np.ndarray) -> dict:
    """Each committed model's framing check through torch: its readings of the upload at each framing, or, for a framing
    average, the seven readings of the 28×28 that it averages."""
    from core.inference import image_batch
    from core.models import FramingAverage
    from core.robustness import FramingCheck, framing_check

    models = {m: committed_model(m) for m in MODELS}
    thresholds = {m: open_checkpoint(CHECKPOINTS_DIR / m).card.opening_threshold for m in MODELS}
    checks = framing_check(models, grey, thresholds)
    for name, model in models.items():
        if isinstance(model, FramingAverage):
            with torch.no_grad():
                logits = model.framing_logits(model.forward_features(image_batch(image)))[:, 0, 0].numpy()
            checks[name] = FramingCheck(checks[name].perturbations, logits.astype(np.float64), thresholds[name])
    return checks


@pytest.mark.skipif(not FIXTURES.exists(), reason="needs ../shared/fixtures/cxr")
def test_the_zoom_control_rereads_every_model_at_the_framing_chosen():
    from core.imaging import decode
    from core.perturbations import framed_square

    data = (FIXTURES / "kermany_person1951_bacteria_4882.jpeg").read_bytes()
    app = _upload("x.jpeg", data, "image/jpeg")
    app.slider(key="predict_zoom").set_value(1.15).run()
    app.slider(key="predict_across").set_value(1.5).run()
    image = to_dataset_image(framed_square(decode(data).grey, 1.15, (-1.5, 0.0)))
    shown = _shown_probabilities(app)
    for model in MODELS:
        expected = probabilities(predict_logits(committed_model(model), image[None]))[0]
        assert shown[spec(model).display_name] == pytest.approx(expected, abs=5e-4)
    captions = [image.caption for element in app.get("image") for image in element.proto.imgs]
    assert any("framed 15% tighter, frame moved +1.5 px across" in caption for caption in captions)
