import streamlit as st

import ui
from core.gate import check
from core.imaging import ImageDecodeError, decode, display_image, overlay, to_dataset_image
from core.inference import read
from core.reporting import CLASS_NAMES

ui.through_entry_script(__file__)

st.title("Predict an X-ray")
st.warning(ui.DISCLAIMER, icon=":material/info:")
names = ui.require_models()
images, labels = ui.test_images()

source = st.radio("Image", ["Upload an X-ray", "Sample from the test split"], horizontal=True, key="predict_source")
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
    ui.show_verdict(check(decoded, model_input, ui.neighbourhood()))
    if decoded.dicom is not None:
        with st.expander("DICOM header (what the image is; patient fields are never read out)"):
            st.table({label: [value] for label, value in decoded.dicom.rows_to_show()})
    origin = f"{decoded.format}, {decoded.width}×{decoded.height} pixels, {decoded.bits}-bit"
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


@st.fragment
def heatmaps() -> None:
    """Only this part reruns when the opacity moves: no decoding, inference or Grad-CAM again."""
    opacity = st.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key="cam_opacity", persist_state="session")
    columns = st.columns(2 + len(readings))
    columns[0].image(shown, caption=f"{origin}; centre square shown", width="stretch")
    columns[1].image(ui.enlarge(model_input, 16), caption="What the models see: 28×28, area-averaged like the dataset", width="stretch")
    for column, (name, reading) in zip(columns[2:], readings.items()):
        column.metric(f"{ui.display_name(name)}: P(pneumonia)", f"{reading.probability:.3f}",
                      f"{CLASS_NAMES[reading.predicted_class]} at threshold {thresholds[name]:.3f}", delta_color="off", delta_arrow="off")
        column.image(overlay(shown, reading.heatmap, opacity), width="stretch",
                     caption=f"Grad-CAM: where {ui.display_name(name)} found evidence for “{CLASS_NAMES[reading.predicted_class].lower()}”")


heatmaps()
st.caption("Thresholds are each model's current one (Threshold explorer). Grad-CAM highlights the regions that raised "
           "the logit of the predicted class (for “normal”, the negative logit); at 28×28 it is coarse, 7×7 cells.")
