import streamlit as st

from core.reporting import DISCLAIMER
from ui import evaluation, routing, state, widgets

routing.enter(__file__)

st.title("Evaluate on your X-rays")
st.warning(DISCLAIMER, icon=":material/info:")
names = widgets.require_models()
st.markdown(
    "Every other page is about PneumoniaMNIST's own test split. Here you bring **your own labelled X-rays**, and every "
    "model reads them at its current threshold, through the same input gate as a single upload. Labels come from "
    "`NORMAL/` and `PNEUMONIA/` folders (any case) or from a CSV of `file,label` rows; an unlabelled set gets the "
    "readings only. Files stay in memory and are never saved. For sets too big for a browser: `python validate.py FOLDER_OR_ZIP`.")

folder = st.radio("What you upload", state.EVALUATE_KINDS, horizontal=True, key="evaluate_kind") == state.EVALUATE_KINDS[1]
uploads = st.file_uploader(
    "A folder of X-rays (its NORMAL and PNEUMONIA folders label them)" if folder else
    "Your X-rays: a zip, or many files (PNG, JPEG, TIFF, BMP, WebP, GIF or DICOM)",
    accept_multiple_files="directory" if folder else True, key="evaluate_folder" if folder else "evaluate_upload",
    max_upload_size=evaluation.MAX_SET_MB)
labels_upload = st.file_uploader("Labels (optional): a CSV of file,label rows, label normal or pneumonia", type=["csv"], key="evaluate_labels")
site = st.checkbox("Also choose a site threshold: each model's threshold chosen by the app's rule on a seeded half of your set "
                   "(stratified), reported on the other half", key="evaluate_site")
if st.button("Evaluate", type="primary", disabled=not uploads, key="evaluate_start", icon=":material/play_arrow:"):
    evaluation.start(uploads, labels_upload, names)
run = evaluation.current(uploads or [], labels_upload)
if run is None:
    st.info("Upload a labelled set, then press Evaluate.")
    st.stop()
evaluation.show(run, names, site)
