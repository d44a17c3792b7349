import streamlit as st

from core.evaluation import OPERATING_POINT_LABELS
from core.model_card import INTENDED_USE, OUT_OF_SCOPE, POPULATION, Evidence, failure_modes, performance_table, tripod_ai
from core.registry import spec
from core.reporting import duration, initialisation_text
from ui import resources, routing, widgets

routing.enter(__file__)

st.title("Model card")
names = widgets.require_models()
name = st.selectbox("Model", names, format_func=resources.display_name, key="card_model", persist_state="session")
card, entry = resources.card(name), spec(name)
test = resources.split_view(name, "test")
evidence = Evidence(test.labels, test.calibrated, test.scores, resources.gate_false_alarm_rate())

st.markdown(f"**{entry.display_name}**: {entry.description}")
st.table({"Parameters": [f"{card.trainable_parameters:,}"], "Input": [card.input], "Initialisation": [initialisation_text(card)],
          "Trained on": [card.training.device], "Training time": [duration(card.training.epoch_seconds_total)],
          "Finished": [card.training.finished], "Weights sha256": [card.weights_sha256[:16] + "…"]})

st.header("Intended use")
st.markdown(INTENDED_USE)
st.header("Out of scope")
st.markdown(OUT_OF_SCOPE)
st.header("Training data and population")
counts = card.data.class_counts
st.markdown(POPULATION + " " + "; ".join(f"{split}: {c.normal} normal, {c.pneumonia} pneumonia" for split, c in counts.items()) + ".")
st.header("Training recipe, and where it departs from the report")
stages = ", then ".join(f"{s.epochs} epochs at learning rate {s.lr:g} ({s.name.replace('_', ' ')})" for s in card.config.stages)
members = card.training.member_best_epochs
each = f"; each of {len(members)} members trained so, on its own seed" if members else ""
st.markdown(f"Adam, batch {card.config.batch_size}, {stages}{each}; class-weighted BCE (pos_weight {card.loss.pos_weight:.3f}).")
st.markdown("\n".join(f"- {note}" for note in card.departures_from_report))
st.header("Performance on test, at the operating points chosen on validation")
st.markdown(f"AUC {card.metrics.test.auc:.3f} (95% CI {card.metrics.test.auc_ci95[0]:.3f}–{card.metrics.test.auc_ci95[1]:.3f}); "
            f"on validation {card.metrics.val.auc:.3f}. The app opens at “{OPERATING_POINT_LABELS[card.metrics.chosen_operating_point]}”.")
st.table(performance_table(card).set_index("Operating point (chosen on validation)"))
st.header("Calibration")
st.markdown(f"{card.calibration.why}")
st.header("Known failure modes")
st.markdown("\n".join(f"- {mode}" for mode in failure_modes(card, evidence)))
st.header("TRIPOD+AI items")
st.table(tripod_ai(card, evidence).set_index("TRIPOD+AI item"))
