import streamlit as st

from core import case_report
from core.gate import check, check_dataset_image, summary
from core.imaging import ImageDecodeError, decode, display_image, overlay, to_dataset_image
from core.perturbations import FRAMING_CHECK, framed_square, zoom_label
from core.registry import spec
from core.reporting import CLASS_NAMES, DISCLAIMER
from core.robustness import framing_sentence
from core.serving import read_upload
from ui import resources, routing, state, widgets

routing.enter(__file__)

st.title("Predict an X-ray")
st.warning(DISCLAIMER, icon=":material/info:")
names = widgets.require_models()
images, labels = resources.test_images()

source = st.radio("Image", state.PREDICT_SOURCES, horizontal=True, key="predict_source")
file_name = None
if source == state.PREDICT_SOURCES[0]:
    # Any file: the content decides what it is, never the name (type=None), and nothing is written to disk.
    upload = st.file_uploader("Chest X-ray: PNG, JPEG, TIFF, BMP, WebP, GIF or DICOM (kept in memory, never saved)", key="upload")
    if upload is None:
        st.info("Upload a frontal chest X-ray, or pick a sample from the test split above.")
        st.stop()
    try:
        decoded = decode(upload.getvalue())
    except ImageDecodeError as error:
        st.error(str(error), icon=":material/error:")
        st.stop()
    original, token = decoded.grey, ("upload", upload.file_id)
    image = to_dataset_image(original)  # what the models read, as the dataset frames it
    verdict = check(decoded, image, resources.neighbourhood())
    widgets.show_verdict(verdict)
    if decoded.dicom is not None:
        with st.expander("DICOM header (what the image is; patient fields are never read out)"):
            st.table({label: [value] for label, value in decoded.dicom.rows_to_show()})
    origin = f"{decoded.format}, {decoded.width}×{decoded.height} pixels, {decoded.bits}-bit"
    file_name = upload.name
else:
    index = st.selectbox("Test case", range(len(images)), key="predict_sample",
                         format_func=lambda i: f"#{i} ({CLASS_NAMES[labels[i]].lower()})")
    original, token = images[index], ("sample", index)
    image = to_dataset_image(original)
    verdict = check_dataset_image(original, resources.neighbourhood())
    widgets.show_verdict(verdict)
    origin = f"Test case #{index}, labelled {CLASS_NAMES[labels[index]].lower()} (28×28 already)"

thresholds = {name: state.current_threshold(name) for name in names}
models = {name: model for name in names if (model := resources.model(name)) is not None}
recommended = frozenset(name for name in models if not spec(name).report_baseline)
with st.spinner("Reading it…"):
    readings_and_checks = state.session_memo("upload_readings", (token, tuple(thresholds.items())),
                                             lambda: read_upload(models, original, image, thresholds, recommended))
check_labels = {p.name: p.label for p in FRAMING_CHECK}


def framing_words(zoom: float, across: float, down: float) -> str:
    moves = [f"{value:+g} px {way}" for value, way in ((across, "across"), (down, "down")) if value]
    return ("framed as the dataset" if zoom == 1.0 else f"framed {zoom_label(zoom)}") + (", frame moved " + " and ".join(moves) if moves else "")


@st.fragment
def reading() -> None:
    """Reruns alone when the framing, the opacity or the raw toggle moves; the models reread only for a new framing."""
    st.header("How the models read it")
    widgets.raw_toggle()
    zoom_column, across_column, down_column = st.columns(3)
    zoom = zoom_column.slider("Framing: zoom (1 = the dataset's centre square)", 0.8, 1.25, 1.0, 0.01, key="predict_zoom",
                              help="Above 1 frames tighter (a crop), below 1 looser (black beyond the picture).")
    across = across_column.slider("Move the frame across (pixels of the 28×28)", -4.0, 4.0, 0.0, 0.5, key="predict_across")
    down = down_column.slider("Move the frame down (pixels of the 28×28)", -4.0, 4.0, 0.0, 0.5, key="predict_down")


    def framed():
        square = framed_square(original, zoom, (-across, -down))  # moving the frame right moves the content left
        if (zoom, across, down) == (1.0, 0.0, 0.0):  # the dataset's framing: the readings made with the upload
            return square, image, display_image(square), {name: reading for name, (reading, _) in readings_and_checks.items()}
        model_input = to_dataset_image(square)
        return square, model_input, display_image(square), {name: model.read(model_input, thresholds[name]) for name, model in models.items()}

    square, model_input, shown, readings = state.session_memo("reading", (token, zoom, across, down, tuple(thresholds.items())), framed)
    framing = framing_words(zoom, across, down)
    opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key="cam_opacity", persist_state="session")
    columns = st.columns(2 + len(readings))
    with columns[0]:
        widgets.image(shown, caption=f"{origin}; {framing}", width="stretch", alt=f"The X-ray as the models are given it, {framing}")
    with columns[1]:
        widgets.image(widgets.enlarge(model_input, 16), caption="What the models see: 28×28, area-averaged like the dataset", width="stretch",
                      alt=f"The same X-ray reduced to the 28×28 pixels the models read, {framing}")
    for column, (name, one) in zip(columns[2:], readings.items()):
        decided = CLASS_NAMES[one.predicted_class].lower()
        with column:
            widgets.show_reading(name, one, thresholds[name])
            widgets.image(overlay(shown, one.heatmap, opacity), width="stretch",
                          caption=f"Grad-CAM: where {resources.display_name(name)} found evidence for “{decided}”",
                          alt=f"The X-ray with {resources.display_name(name)}'s Grad-CAM heatmap for “{decided}”: red where it found most evidence")
    widgets.heatmap_legend()
    widgets.heatmap_trust_link(list(readings))
    with_name = file_name is not None and st.checkbox("Put the file name in the case report", key="report_file_name",
                                                      help="Off by default: file names often carry a patient's name.")
    widgets.report_downloads(lambda: case_report.build(
        "Case report: an X-ray read by the models", f"{origin}; {framing}", model_input,
        display_image(square, max(shown.shape[0], min(1024, *square.shape))),  # up to 1024 px of the upload
        readings, {name: resources.card(name) for name in readings}, thresholds, opacity, summary(verdict),
        tuple(f"{resources.display_name(n)}, {len(FRAMING_CHECK)} readings around the dataset's framing (not the framing above): "
              f"{framing_sentence(checks[n], check_labels)}" for n in readings if n in checks),
        file_name if with_name else None), key="predict_report")


def framing_checks() -> dict:
    """The recommended models' framing checks, made with their readings; the report's baselines' when asked."""
    checks = {name: check for name, (_, check) in readings_and_checks.items() if check is not None}
    baselines = {name: model for name, model in models.items() if name not in recommended}
    if baselines and st.session_state.get("predict_check_baselines"):
        with st.spinner(f"Reading it at {len(FRAMING_CHECK)} framings with the report's models…"):
            checks |= state.session_memo("baseline_checks", (token, tuple(thresholds.items())), lambda: {
                name: check for name, (_, check) in read_upload(baselines, original, image, thresholds, frozenset(baselines)).items()})
    return checks


checks = framing_checks()
reading()
st.header("Does the reading hold if the X-ray were framed differently?")
st.markdown(f"Each model below also read this X-ray at {len(FRAMING_CHECK)} framings and exposures around the dataset's "
            f"({', '.join(label.lower() for label in check_labels.values())}), at its current threshold. A decision that "
            "changes between them rests on how the image happens to be framed, not only on what it shows.")
for name, one in checks.items():
    own = " (its own seven readings of the 28×28, which it averages)" if models[name].averages_framings else ""
    sentence = f"**{resources.display_name(name)}**{own}: {framing_sentence(one, check_labels)}"
    (st.success if one.holds else st.warning)(sentence, icon=":material/check_circle:" if one.holds else ":material/warning:")
if any(name not in recommended for name in models):  # drawn on every run, or Streamlit forgets its value
    st.toggle("Also check the report's models", key="predict_check_baselines",
              help="Off by default: the report's models are known to change with framing (Does it hold up?), and checking "
                   "ResNet-18 at 224 px costs seven more 224×224 readings, several times all the other readings together.")
st.caption("Thresholds are each model's current one (Threshold explorer, Compare models). Grad-CAM highlights the regions "
           "that raised the logit of the decided class (for “normal”, the negative logit).")
