import pandas as pd
import streamlit as st

from core.checkpoints import CheckpointError
from core.figures import RobustnessSeries, robustness_figure
from core.perturbations import BY_NAME
from core.robustness import weakest
from core.reporting import percent
from ui import resources, routing, state, widgets

routing.enter(__file__)

st.title("Does it hold up?")
names = widgets.require_models()
st.markdown(
    "The models learned from X-rays framed and exposed exactly as PneumoniaMNIST's: the centre square of each image, "
    "shrunk to 28×28. An X-ray from another hospital is cropped a little tighter or looser, shifted, exposed differently. "
    "Here every validation and test image is re-read under **named, fixed changes** (`core.perturbations`), at each "
    "model's current threshold. A model can keep its AUC (it still *ranks* children well) and still lose its threshold: "
    "its scores shift, and the same cut-off then flags most healthy children, or misses pneumonia.")

measured = [name for name in names if resources.card(name).robustness is not None
            and set(resources.card(name).robustness.perturbations) <= set(BY_NAME)]  # a suite this app knows
for name in [n for n in names if n not in measured]:
    st.caption(f"{resources.display_name(name)} has not been measured under this app's perturbations.")
for name in list(measured):
    try:
        resources.perturbed_probabilities(name, "test")
    except CheckpointError as error:
        st.warning(str(error), icon=":material/warning:")
        measured.remove(name)
if not measured:
    st.info("No model here has been measured under the perturbations yet (python train.py robustness --model …).")
    st.stop()
left, right = st.columns(2)
name = left.selectbox("Model whose threshold and table are shown", measured, format_func=resources.display_name, key="robustness_model",
                      persist_state="session")
split = right.radio("Split", list(state.SPLIT_LABELS), format_func=state.SPLIT_LABELS.get, horizontal=True, key="robustness_split",
                    persist_state="session", help="Thresholds are chosen on clean validation; test shows how they carry over.")
widgets.threshold_slider(name, "robustness")

labels = {name: perturbation.label for name, perturbation in BY_NAME.items()}
thresholds = {n: state.current_threshold(n) for n in measured}
rows = {n: resources.robustness_rows(n, split, thresholds[n]) for n in measured}


def weakest_sentence(model: str) -> str:
    """The perturbation where the model's balanced accuracy is lowest, against the clean image."""
    clean, worst = rows[model][0], weakest(rows[model])
    head = f"**{resources.display_name(model)}** (threshold {thresholds[model]:.3f})"
    if worst is clean:
        return f"{head} does best on the images as the dataset frames them; no change here lowers its balanced accuracy."
    return (f"{head} is weakest when **{labels[worst.perturbation].lower()}**: sensitivity {percent(worst.values['sensitivity'])} "
            f"and specificity {percent(worst.values['specificity'])}, against {percent(clean.values['sensitivity'])} and "
            f"{percent(clean.values['specificity'])} as framed, AUC {worst.auc:.3f} (as framed {clean.auc:.3f}).")


sentences = [weakest_sentence(n) for n in measured]
where = state.SPLIT_LABELS[split].lower()
widgets.chart(robustness_figure([RobustnessSeries(resources.display_name(n), resources.colour(n), rows[n]) for n in measured], labels,
                                f"Under each change, on {where}, at each model's current threshold"), key="robustness",
              alt=f"Dot plot of sensitivity, specificity and AUC with 95% intervals for each model on {where}, under the clean "
                  f"image and {len(rows[measured[0]]) - 1} changes of framing, position, rotation, exposure, blur and compression. "
                  + " ".join(sentences).replace("**", ""))
st.caption("Each marker is a model's value on the changed images, the bar its 95% bootstrap interval (2,000 resamples of the "
           "same cases); the shaded top row is the image as the dataset frames it. Dashed lines: sensitivity 0.95 and "
           "specificity 0.75.")
st.markdown("\n\n".join(sentences))

st.header(f"{resources.display_name(name)} under each change, on {where}")
st.table(pd.DataFrame([{
    "Change": labels[row.perturbation],
    "Sensitivity": f"{percent(row.values['sensitivity'])} ({percent(row.ci95['sensitivity'][0])}–{percent(row.ci95['sensitivity'][1])})",
    "Specificity": f"{percent(row.values['specificity'])} ({percent(row.ci95['specificity'][0])}–{percent(row.ci95['specificity'][1])})",
    "AUC": f"{row.auc:.3f} ({row.auc_ci95[0]:.3f}–{row.auc_ci95[1]:.3f})",
} for row in rows[name]]).set_index("Change"))
widgets.define("Sensitivity", "Specificity", "AUC")
st.caption(f"Selection score of the model experiments (benchmarks/experiments.md), at the operating point the app opens at: worst "
           f"balanced accuracy over the changes, {resources.card(name).robustness.worst_balanced_accuracy[split]:.3f} on {where} "
           f"({labels[resources.card(name).robustness.weakest[split]].lower()}).")
