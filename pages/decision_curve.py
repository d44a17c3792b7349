import numpy as np
import streamlit as st

from core.evaluation import calibrated_threshold
from core.figures import DecisionCurve, decision_curve_figure
from core.metrics import net_benefit, treat_all_net_benefit
from core.reporting import GLOSSARY
from ui import resources, routing, state, widgets

routing.enter(__file__)

st.title("Better than treating everyone, or no one?")
names = widgets.require_models()
st.markdown(
    "Decision curve analysis (Vickers & Elkin, 2006) weighs what a model finds against what it costs. Pick the "
    "**threshold probability**: the risk of pneumonia at which you would treat. It says how many unnecessary "
    "treatments one found pneumonia is worth (at 20%, four). Net benefit then counts the children correctly treated, "
    "minus the unnecessary treatments at that exchange rate, per child tested.")
split = st.radio("Split", ["test", "val"], format_func=state.SPLIT_LABELS.get, horizontal=True, key="decision_split", persist_state="session",
                 help="Test by default: validation is nearly separable for both models, so its curves say little.")

grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
labels = resources.split_view(names[0], split).labels
prevalence = float(np.mean(labels))
curves, readings = [], []
for name in names:
    view = resources.split_view(name, split)
    point = calibrated_threshold(resources.card(name), state.current_threshold(name))
    curve = net_benefit(view.labels, view.calibrated, grid)
    better = grid[(curve > treat_all_net_benefit(prevalence, grid)) & (curve > 0)]
    span = f"from {better.min():.0%} to {better.max():.0%}" if len(better) else "at no threshold probability"
    if 0 < point < 1:
        at_point = float(net_benefit(view.labels, view.calibrated, [point])[0])
        reading = (f"at its current threshold (calibrated probability {point:.2f}): net benefit {at_point:.3f}, as if "
                   f"{100 * at_point:.1f} of every 100 children tested were correctly treated with no unnecessary treatment; "
                   f"treating everyone there gives {float(treat_all_net_benefit(prevalence, [point])[0]):.3f}.")
    else:  # a threshold of 0 or 1 treats everyone or no one: net benefit is defined strictly between
        at_point, reading = None, f"at its current threshold ({point:.0f}) treats {'every' if point <= 0 else 'no'} child."
    curves.append(DecisionCurve(resources.display_name(name), curve, resources.colour(name), None if at_point is None else (point, at_point)))
    readings.append(f"**{resources.display_name(name)}** {reading} It beats both treating everyone and treating no one for threshold "
                    f"probabilities {span}.")

widgets.chart(decision_curve_figure(grid, curves, treat_all_net_benefit(prevalence, grid), prevalence), key="decision_curve",
              alt="Decision curves: net benefit against threshold probability for each model, treating everyone and treating "
                  "no one; each model's current threshold is marked. " + " ".join(readings).replace("**", ""))
st.markdown("\n\n".join(readings))
st.caption(f"**Net benefit**: {GLOSSARY['Net benefit']} **Threshold probability**: {GLOSSARY['Threshold probability']} "
           f"Calibrated probabilities on {state.SPLIT_LABELS[split].lower()} ({prevalence:.1%} pneumonia); each marker is the "
           "model's current threshold (set on the Threshold explorer or Compare models).")
