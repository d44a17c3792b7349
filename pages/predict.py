import streamlit as st

import ui
from core.case_report import CaseReport
from core.gate import ACCEPTED, check
from core.imaging import ImageDecodeError, decode, display_image, overlay, to_dataset_image
from core.inference import read
from core.reporting import CLASS_NAMES

ui.through_entry_script(__file__)

st.title("Predict an X-ray")
st.warning(ui.DISCLAIMER, icon=":material/info:")
names = ui.require_models()
images, labels = ui.test_images()

source = st.radio("Image", ["Upload an X-ray", "Sample from the test split"], horizontal=True, key="predict_source")
verdict, file_name = None, None
if source == "Upload an X-ray":
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
    original = decoded.grey
    model_input = to_dataset_image(original)
    verdict = check(decoded, model_input, ui.neighbourhood())
    ui.show_verdict(verdict)
    if decoded.dicom is not None:
        with st.expander("DICOM header (what the image is; patient fields are never read out)"):
            st.table({label: [value] for label, value in decoded.dicom.rows_to_show()})
    origin = f"{decoded.format}, {decoded.width}×{decoded.height} pixels, {decoded.bits}-bit"
    file_name = upload.name
else:
    index = st.selectbox("Test case", range(len(images)), key="predict_sample",
                         format_func=lambda i: f"#{i} ({CLASS_NAMES[labels[i]].lower()})")
    original = images[index]
    model_input = to_dataset_image(original)
    origin = f"Test case #{index}, labelled {CLASS_NAMES[labels[index]].lower()} (28×28 already)"

shown = display_image(original)
with st.spinner("Running the models and Grad-CAM…"):
    thresholds = {name: ui.current_threshold(name) for name in names}
    models = {name: ui.model(name) for name in names}
    readings = {name: read(model, model_input, thresholds[name]) for name, model in models.items() if model is not None}
ui.raw_toggle()


@st.fragment
def heatmaps() -> None:
    """Only this part reruns when the opacity moves: no decoding, inference or Grad-CAM again."""
    opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key="cam_opacity", persist_state="session")
    columns = st.columns(2 + len(readings))
    columns[0].image(shown, caption=f"{origin}; centre square shown", width="stretch")
    columns[1].image(ui.enlarge(model_input, 16), caption="What the models see: 28×28, area-averaged like the dataset", width="stretch")
    for column, (name, reading) in zip(columns[2:], readings.items()):
        with column:
            ui.show_reading(name, reading, thresholds[name])
            st.image(overlay(shown, reading.heatmap, opacity), width="stretch",
                     caption=f"Grad-CAM: where {ui.display_name(name)} found evidence for “{CLASS_NAMES[reading.predicted_class].lower()}”")
    ui.heatmap_legend()
    with_name = file_name is not None and st.checkbox("Put the file name in the case report", key="report_file_name",
                                                      help="Off by default: file names often carry a patient's name.")
    gate = "" if verdict is None else ("accepted" if verdict.outcome == ACCEPTED else "flagged: " + " ".join(verdict.reasons))
    ui.report_downloads(lambda: CaseReport(
        title="Case report: an X-ray read by the models", source=origin, model_input=model_input,
        square=display_image(original, max(shown.shape[0], min(1024, *original.shape))),  # up to 1024 px of the upload
        readings=ui.model_readings(readings, thresholds, shown, opacity), gate=gate,
        file_name=file_name if with_name else None), key="predict_report")


heatmaps()
st.caption("Thresholds are each model's current one (Threshold explorer, Compare models). Grad-CAM highlights the regions "
           "that raised the logit of the decided class (for “normal”, the negative logit).")
