import streamlit as st

import ui
from core.figures import RocCurve, confusion_matrix_figure, roc_figure, threshold_sweep_figure
from core.metrics import metrics_at, predictive_values
from core.reporting import GLOSSARY, error_sentence, metrics_table, percent

ui.through_entry_script(__file__)

st.title("Threshold explorer")
names = ui.require_models()
left, right = st.columns(2)
name = left.selectbox("Model", names, format_func=ui.display_name, key="explorer_model", persist_state="session")
split = right.radio("Split", list(ui.SPLIT_LABELS), format_func=ui.SPLIT_LABELS.get, horizontal=True, key="explorer_split",
                    persist_state="session", help="Operating points are always chosen on validation; test shows how they carry over.")


@st.fragment
def explorer(name: str, split: str) -> None:
    view = ui.split_view(name, split)
    st.caption("Operating points chosen on the validation split:")
    ui.preset_buttons(name)
    threshold = ui.threshold_slider(name, "explorer")
    point = metrics_at(view.labels, view.scores, threshold)
    st.markdown(f"#### At threshold {threshold:.3f} on the {ui.SPLIT_LABELS[split].lower()} split, "
                + error_sentence(point, ui.display_name(name)))

    matrix, roc = st.columns(2)
    with matrix:
        ui.chart(confusion_matrix_figure(point, "Confusion matrix"), key="confusion")
    with roc:
        ui.chart(roc_figure([RocCurve.at(ui.display_name(name), view.sweep, view.auc, point, threshold, ui.colour(name))]), key="roc")

    sweep, table = st.columns([3, 2])
    with sweep:
        ui.chart(threshold_sweep_figure(view.sweep, threshold), key="sweep")
    with table:
        st.table(metrics_table(point, view.resamples.intervals_at(threshold), view.auc, view.auc_interval).set_index("Metric"))
        ui.define("AUC", "PPV", "NPV")

    st.subheader("In another population")
    sample_prevalence = point["tp"] + point["fn"]
    prevalence = st.slider("Prevalence of pneumonia among the children tested (%)", 1, 99, key=f"prevalence_{split}",
                           value=round(100 * sample_prevalence / len(view.labels)), persist_state="session",
                           help=f"This split: {sample_prevalence / len(view.labels):.1%}") / 100
    ppv, npv = predictive_values(point["sensitivity"], point["specificity"], prevalence)
    a, b = st.columns(2)
    a.metric("Positive predictive value (PPV)", percent(ppv), help=GLOSSARY["PPV"])
    b.metric("Negative predictive value (NPV)", percent(npv), help=GLOSSARY["NPV"])
    st.caption(f"With sensitivity {percent(point['sensitivity'])} and specificity {percent(point['specificity'])}, where "
               f"{prevalence:.0%} of children have pneumonia, a flag is right {percent(ppv)} of the time and a clearance {percent(npv)}.")


explorer(name, split)
