"""Print (or write into README.md between its results markers) the results table, computed from the checkpoint cards.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="replace the table in README.md")
    table = results_table()
    if not parser.parse_args().write:
        print(table)
        return
    replace_between(REPO / "README.md", START, END, table)
    print(f"updated {REPO / 'README.md'}")


if __name__ == "__main__":
    main()
