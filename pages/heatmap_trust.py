import numpy as np
import pandas as pd
import streamlit as st

from core.explanations import METHOD_LABELS, depths_passed, eligible, verdict
from core.figures import randomisation_figure, road_figure
from core.imaging import overlay
from core.reporting import CLASS_NAMES
from ui import resources, routing, widgets

routing.enter(__file__)

st.title("Can I trust the heatmap?")
names = widgets.require_models()
st.markdown(
    "A heatmap looks convincing whatever it shows. Two checks from the saliency literature say whether it can be read "
    "at all. **Randomisation** (Adebayo et al. 2018): re-initialise the network from the output layer down; a map that "
    "stays the same was not made by what the model learned. It passes when it is less like the trained map than the "
    "maps of two different children are (Arun et al. 2021). **Faithfulness** (ROAD, Rong et al. 2022): blur away the "
    "pixels the map marks and the model's score should fall more than when the unmarked ones go; a random map and an "
    "edge map of the X-ray are the yardsticks. Everything here was measured on validation images "
    "(`python train.py explanations`), and is read from each checkpoint's record.")

measured = [name for name in names if resources.explanations(name) is not None]
for name in [n for n in names if n not in measured]:
    st.caption(f"{resources.display_name(name)}'s heatmap has not been checked (python train.py explanations --model {name}).")
if not measured:
    st.info("No model here has had its heatmap checked yet.")
    st.stop()


def method_label(record, key: str) -> str:
    entry = record["candidates"][key]
    layers = {c["layer"] for c in record["candidates"].values()}
    where = f" at {entry['layer']} ({entry['grid'][0]}×{entry['grid'][1]})" if len(layers) > 1 else ""
    return METHOD_LABELS[entry["method"]] + where + (" — shown in the app" if key == record["chosen"] else "")


st.header("What each heatmap can and cannot tell a clinician")
for name in measured:
    record = resources.explanations(name)
    st.markdown(f"**{resources.display_name(name)}** ({method_label(record, record['chosen'])}): {verdict(record).sentence}")

left, right = st.columns(2)
name = left.selectbox("Model", measured, format_func=resources.display_name, key="trust_model", persist_state="session")
record = resources.explanations(name)
keys = list(record["candidates"])
key = right.selectbox("Heatmap method (the others are measured too)", keys, index=keys.index(record["chosen"]),
                      format_func=lambda k: method_label(record, k), key=f"trust_method_{name}")
entry, label, colour = record["candidates"][key], method_label(record, key), resources.colour(name)
n, seeds = len(record["sample"]), len(record["seeds"])
st.caption(f"{n} validation images ({record['labels'].count(0)} normal, {record['labels'].count(1)} pneumonia), "
           f"{seeds} randomisation seeds; the map is for the class the model decides at its opening threshold "
           f"({record['threshold']:.3f}), as on the Predict page.")

st.header("Does the map depend on what the model learned?")
passed = depths_passed(entry)
curve_words = (f"{label} passes at {passed} of {len(entry['cascading'])} depths when the network is re-initialised from the output "
               f"layer down; two different children's maps have |ρ| {entry['baseline']['mean']:.2f}.")
widgets.chart(randomisation_figure(record["depths"], {"cascading": entry["cascading"], "independent": entry["independent"]},
                                   entry["baseline"], colour, f"{resources.display_name(name)}: {label}"),
              key="trust_randomisation", alt=f"Line chart of the similarity of {resources.display_name(name)}'s heatmap to the "
              f"trained one as more of the network is re-initialised, with the random-pair baseline. {curve_words}")
st.caption("Solid: everything from the output layer down to that depth re-initialised (cascading); dotted: that depth alone "
           "(independent). A circle is below the baseline (passes), a cross is not. Spearman |ρ| between 28×28 maps, mean over "
           f"images and seeds, 95% bootstrap interval over images; maps left with nothing in them are counted apart (hover). {curve_words}")

examples = [e for e in record["examples"] if key in e["trained"]]
if examples:
    depths = record["depths"]
    shown = [0, len(depths) // 2, len(depths) - 1]
    st.subheader("A few children, before and after randomisation")
    for example in examples:
        pixels = widgets.enlarge(np.array(example["image"], np.uint8), 8)
        maps = [np.array(example["trained"][key], float) / 255] + [np.array(example["cascading"][key][k], float) / 255 for k in shown]
        titles = ["trained"] + [f"down to {depths[k].lower()}" for k in shown]
        who = f"a child labelled {CLASS_NAMES[example['label']].lower()}, read as {CLASS_NAMES[example['decided']].lower()}"
        columns = st.columns(len(maps) + 1)
        with columns[0]:
            widgets.image(pixels, caption=who, width="stretch", alt=f"Validation X-ray of {who}")
        for column, heatmap, title in zip(columns[1:], maps, titles):
            with column:
                widgets.image(overlay(pixels, heatmap, 0.5), caption=title, width="stretch",
                              alt=f"{label} of {who}, {title}" + (" (re-initialised)" if title != "trained" else ""))
    widgets.heatmap_legend()
else:
    st.caption("Example maps are kept for the method the app shows and for Grad-CAM.")

st.header("Does the map mark what the score depends on?")
road_rows = [(method_label(record, k), record["candidates"][k]["road"], colour if k == key else "#9aa5ab") for k in keys]
road_rows += [("A random map", record["nulls"]["random"], "#c0392b"), ("An edge map of the X-ray (Sobel)", record["nulls"]["edges"], "#b8860b")]
road = entry["road"]
road_words = (f"{label}: ROAD {road['mean']:.2f} ({road['ci95'][0]:.2f} to {road['ci95'][1]:.2f}); a random map "
              f"{record['nulls']['random']['mean']:.2f}, an edge map {record['nulls']['edges']['mean']:.2f}.")
widgets.chart(road_figure(road_rows, f"{resources.display_name(name)}: ROAD with 95% intervals"), key="trust_road",
              alt=f"Dot plot of the ROAD score of every heatmap method and of two maps that ignore the model. {road_words}")
st.caption("ROAD (the grad-cam library's ROADCombined, pixels removed at 20, 40, 60 and 80%, filled in by noisy linear "
           "imputation): the logit of the decided class lost when the least relevant pixels go, minus when the most relevant "
           f"go, halved; mean over images with a 95% bootstrap interval. {road_words}")

st.header("Is it the same map each time?")
rows = []
if record["members"] is not None:
    rows.append(("Its own members (each seed's network alone), every pair", record["members"]))
rows += [(f"{resources.display_name(other)}'s heatmap of the same image", value) for other, value in record["models"].items()]
rows.append((f"The X-ray's edges (Sobel), {label}", entry["edge_rho"]))
st.table(pd.DataFrame([{"Compared with": what, "Spearman ρ (95% interval)": f"{v['mean']:.2f} ({v['ci95'][0]:.2f} to {v['ci95'][1]:.2f})"}
                       for what, v in rows]).set_index("Compared with"))
st.caption("Mean Spearman ρ between 28×28 maps of the same validation images. Different models trained on the same data "
           "can look at different places and still be right; a map that follows the edges of the image would be drawing the "
           "X-ray, not the model.")

st.header("How the app's method was chosen")
st.markdown(f"The rule was written before the comparison (docs/heatmap-method.md). {record['why']}")
st.table(pd.DataFrame([{
    "Method": method_label(record, k),
    "ROAD (95% interval)": f"{c['road']['mean']:.2f} ({c['road']['ci95'][0]:.2f} to {c['road']['ci95'][1]:.2f})",
    "Randomisation passed at": f"{depths_passed(c)} of {len(c['cascading'])} depths",
    "Passes both checks": "yes" if eligible(c, record["nulls"]["random"]) else "no",
} for k, c in record["candidates"].items()]).set_index("Method"))

st.header("Does it look at the lungs?")
st.markdown("The report says Grad-CAM shows the models attending to clinically relevant lung regions. That cannot be "
            "tested here: PneumoniaMNIST has no lesion boxes or lung outlines, and at 28×28 a hand-drawn lung field would "
            "be a guess. What the checks above can say is whether a map reflects the model; whether the model looks at "
            "the right place needs marked images.")
