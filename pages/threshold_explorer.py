import streamlit as st

from core.figures import RocCurve, confusion_alt, confusion_matrix_figure, roc_alt, roc_figure, threshold_sweep_figure
from core.metrics import metrics_at, predictive_values
from core.reporting import GLOSSARY, error_sentence, metrics_table, percent
from ui import resources, routing, state, widgets

routing.enter(__file__)

st.title("Threshold explorer")
names = widgets.require_models()
left, right = st.columns(2)
name = left.selectbox("Model", names, format_func=resources.display_name, key="explorer_model", persist_state="session")
split = right.radio("Split", list(state.SPLIT_LABELS), format_func=state.SPLIT_LABELS.get, horizontal=True, key="explorer_split",
                    persist_state="session", help="Operating points are always chosen on validation; test shows how they carry over.")


@st.fragment
def explorer(name: str, split: str) -> None:
    view = resources.split_view(name, split)
    st.caption("Operating points chosen on the validation split:")
    widgets.preset_buttons(name)
    threshold = widgets.threshold_slider(name, "explorer")
    point = metrics_at(view.labels, view.scores, threshold)
    st.markdown(f"**At threshold {threshold:.3f} on the {state.SPLIT_LABELS[split].lower()} split, "
                + error_sentence(point, resources.display_name(name)) + "**")  # bold, not a heading: it follows the title

    matrix, roc = st.columns(2)
    with matrix:
        widgets.chart(confusion_matrix_figure(point, "Confusion matrix"), key="confusion", alt=confusion_alt(point, threshold))
    with roc:
        widgets.chart(roc_figure([RocCurve.at(resources.display_name(name), view.sweep, view.auc, point, threshold, resources.colour(name))]), key="roc",
                      alt=roc_alt(resources.display_name(name), view.auc, point))

    sweep, table = st.columns([3, 2])
    with sweep:
        widgets.chart(threshold_sweep_figure(view.sweep, threshold), key="sweep",
                      alt=f"Sensitivity, specificity and the other metrics against the threshold, from 0 to 1, with the current "
                          f"threshold {threshold:.3f} marked.")
    with table:
        st.table(metrics_table(point, view.resamples.intervals_at(threshold), view.auc, view.auc_interval).set_index("Metric"))
        widgets.define("AUC", "PPV", "NPV")

    st.header("In another population")
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
