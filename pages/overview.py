import numpy as np
import pandas as pd
import streamlit as st

from core.figures import class_counts_figure, training_history_figure
from core.registry import spec
from core.reporting import CLASS_NAMES, DISCLAIMER, model_overview_table
from ui import resources, routing, widgets

routing.enter(__file__)

st.title("Pneumonia X-ray Explorer")
st.warning(DISCLAIMER, icon=":material/info:")
names = widgets.require_models()
st.markdown(
    f"Each of the {len(names)} classifiers here decides whether a child's chest X-ray shows **pneumonia**: "
    + "; ".join(f"**{resources.display_name(n)}**, {spec(n).description[0].lower()}{spec(n).description[1:].rstrip('.')}" for n in names)
    + ". Explore how the decision threshold trades missed pneumonia against healthy children flagged, compare the "
    "models, see where each one looks, and how far their probabilities can be trusted.")

st.header("The data")
counts = resources.card(names[0]).data.class_counts
left, right = st.columns([3, 2])
sizes = {split: c.normal + c.pneumonia for split, c in counts.items()}
total = sum(sizes.values())
gap = "; ".join(f"{resources.display_name(n)} AUC {resources.card(n).metrics.val.auc:.3f} on validation, "
                f"{resources.card(n).metrics.test.auc:.3f} on test" for n in names)
left.markdown(
    f"**PneumoniaMNIST** (MedMNIST v2, CC BY 4.0) holds {total:,} paediatric chest X-rays from one centre "
    "(Guangzhou Women and Children's Medical Center), shrunk to **28×28 pixels**, in fixed splits. "
    f"Validation was carved out of the same source set as training ({sizes['train'] / sizes['val']:.0f}:1), while test "
    "is the source's own held-out set, "
    f"and it shows: {gap}. Thresholds are chosen on validation and judged on test."
)
left.table(pd.DataFrame(
    [{"Split": split, "Normal": c.normal, "Pneumonia": c.pneumonia, "Pneumonia share": f"{c.pneumonia / (c.normal + c.pneumonia):.1%}"}
     for split, c in counts.items()]).set_index("Split"))
with right:
    widgets.chart(class_counts_figure(counts), key="class_counts",
                  alt="Bar chart of images per split: " + "; ".join(f"{split} {c.normal} normal, {c.pneumonia} pneumonia" for split, c in counts.items()) + ".")

st.subheader("Examples from the test split")
images, labels = resources.test_images()
for label, name in enumerate(CLASS_NAMES):
    picks = np.flatnonzero(labels == label)[:10]
    widgets.image([widgets.enlarge(images[i], 4) for i in picks], caption=[f"{name} · test #{i}" for i in picks], width=96,
                  alt=[f"Chest X-ray at 28×28 pixels, test case {i}, labelled {name.lower()}" for i in picks])

st.header("The models")
st.table(model_overview_table([resources.card(n) for n in names]).set_index("Model"))
widgets.define("AUC")
for name in names:
    card = resources.card(name)
    with st.expander(f"{resources.display_name(name)}: training curves and departures from the report"):
        widgets.chart(training_history_figure(card.training.history), key=f"history_{name}",
                      alt=f"Training curves of {resources.display_name(name)}: training and validation loss, and validation AUC, per epoch.")
        st.markdown("\n".join(f"- {note}" for note in card.departures_from_report))
