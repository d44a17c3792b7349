import streamlit as st

import ui
from core.figures import RocCurve, confusion_matrix_figure, roc_figure, threshold_sweep_figure
from core.metrics import metrics_at, predictive_values
from core.reporting import error_sentence, metrics_table, percent

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
    threshold = ui.threshold_slider(name)
    point = metrics_at(view.labels, view.scores, threshold)
    st.markdown(f"#### At threshold {threshold:.3f} on the {ui.SPLIT_LABELS[split].lower()} split, "
                + error_sentence(point, ui.display_name(name)))

    matrix, roc = st.columns(2)
    matrix.plotly_chart(confusion_matrix_figure(point, "Confusion matrix"), key="confusion")
    curve = RocCurve.at(ui.display_name(name), view.sweep, view.auc, point, threshold, ui.colour(name))
    roc.plotly_chart(roc_figure([curve]), key="roc")

    sweep, table = st.columns([3, 2])
    sweep.plotly_chart(threshold_sweep_figure(view.sweep, threshold), key="sweep")
    table.dataframe(metrics_table(point, view.resamples.intervals_at(threshold), view.auc, view.auc_interval), hide_index=True, height="content")

    st.subheader("In another population")
    sample_prevalence = point["tp"] + point["fn"]
    prevalence = st.slider("Prevalence of pneumonia among the children tested (%)", 1, 99, key="prevalence",
                           value=round(100 * sample_prevalence / len(view.labels)), persist_state="session",
                           help=f"This split: {sample_prevalence / len(view.labels):.1%}") / 100
    ppv, npv = predictive_values(point["sensitivity"], point["specificity"], prevalence)
    a, b = st.columns(2)
    a.metric("Positive predictive value", percent(ppv), help="Of the children flagged, the share who have pneumonia")
    b.metric("Negative predictive value", percent(npv), help="Of the children cleared, the share who are healthy")
    st.caption(f"With sensitivity {percent(point['sensitivity'])} and specificity {percent(point['specificity'])}, where "
               f"{prevalence:.0%} of children have pneumonia, a flag is right {percent(ppv)} of the time and a clearance {percent(npv)}.")


explorer(name, split)
