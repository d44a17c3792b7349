"""Print (or write into README.md between their markers) the results tables, computed from the checkpoints: metrics at
the operating points chosen on validation, and sensitivity / specificity on test under the perturbation suite.

    python scripts/results_table.py [--write]
"""

import argparse
from pathlib import Path

from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint, trained_models
from core.evaluation import OPERATING_POINT_LABELS
from core.io import replace_between
from core.registry import spec
from core.reporting import duration, initialisation_text, kept_epochs, markdown_table

REPO = Path(__file__).resolve().parent.parent

START, END = "<!-- results:start (scripts/results_table.py) -->", "<!-- results:end -->"
ROBUST_START, ROBUST_END = "<!-- robustness:start (scripts/results_table.py) -->", "<!-- robustness:end -->"
POINTS = ("default", "report_rule", "sensitivity_95")


def results_table() -> str:
    cards = [open_checkpoint(folder).card for folder in trained_models(CHECKPOINTS_DIR).values()]
    metric_rows = []
    for card in cards:
        test = card.metrics.test
        auc = f"{test.auc:.3f} ({test.auc_ci95[0]:.3f}–{test.auc_ci95[1]:.3f})"
        for i, point in enumerate(POINTS):
            m = test.operating_points[point]
            metric_rows.append([spec(card.name).display_name if i == 0 else "", auc if i == 0 else "", OPERATING_POINT_LABELS[point],
                                f"{card.metrics.thresholds[point]:.3f}", f"{m['accuracy']:.1%}", f"{m['sensitivity']:.1%}",
                                f"{m['specificity']:.1%}", f"{m['balanced_accuracy']:.1%}", m["fn"], m["fp"]])
    model_rows = [[spec(card.name).display_name, f"{card.trainable_parameters:,}", f"{card.file_size_bytes / 1e6:.1f} MB", card.input,
                   initialisation_text(card), card.training.device,
                   f"{duration(card.training.epoch_seconds_total)} ({len(card.training.history)} epochs)", kept_epochs(card)]
                  for card in cards]
    return (markdown_table(["Model", "Test AUC (95% CI)", "Operating point (chosen on validation)", "Threshold", "Accuracy", "Sensitivity",
                            "Specificity", "Balanced acc.", "FN", "FP"], metric_rows)
            + "\n\n" + markdown_table(["Model", "Parameters", "Size", "Input", "Initialisation", "Trained on", "Training time",
                                         "Kept epoch"], model_rows))


def robustness_table(split: str = "test") -> str:
    """Sensitivity / specificity under each perturbation at each model's opening threshold (the app's), one column per
    model measured; the AUC as framed, and the worst balanced accuracy, below."""
    from scipy.special import expit

    from core.metrics import metrics_at
    from core.perturbations import BY_NAME, TARGET
    from core.robustness import split_logits

    checkpoints = [c for c in (open_checkpoint(f) for f in trained_models(CHECKPOINTS_DIR).values()) if c.card.robustness is not None]
    cells = {}
    for checkpoint in checkpoints:
        labels = checkpoint.predictions[checkpoint.predictions["split"] == split]["label"].to_numpy()
        for name, logits in split_logits(checkpoint.perturbed(), split).items():
            m = metrics_at(labels, expit(logits), checkpoint.card.opening_threshold)
            cells[checkpoint.name, name] = f"{m['sensitivity']:.2f} / {m['specificity']:.2f}"
    names = checkpoints[0].card.robustness.perturbations
    rows = [[BY_NAME[p].label + ("" if p in TARGET or p == "clean" else " (beyond the target)")] + [cells[c.name, p] for c in checkpoints]
            for p in names]
    rows.append(["Worst balanced accuracy over the suite"] + [
        f"{c.card.robustness.worst_balanced_accuracy[split]:.3f} ({BY_NAME[c.card.robustness.weakest[split]].label.lower()})" for c in checkpoints])
    return markdown_table([f"{split.capitalize()}, {len(labels)} images: sensitivity / specificity"]
                          + [f"{spec(c.name).display_name} (threshold {c.card.opening_threshold:.3f})" for c in checkpoints], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="replace the table in README.md")
    tables = {(START, END): results_table(), (ROBUST_START, ROBUST_END): robustness_table()}
    if not parser.parse_args().write:
        print("\n\n".join(tables.values()))
        return
    for (start, end), table in tables.items():
        replace_between(REPO / "README.md", start, end, table)
    print(f"updated {REPO / 'README.md'}")


if __name__ == "__main__":
    main()
