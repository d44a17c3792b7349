"""Print (or write into README.md between its results markers) the results table, computed from the checkpoint cards.

    python scripts/results_table.py [--write]
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from core.checkpoints import CHECKPOINTS_DIR, load_card  # noqa: E402
from core.evaluation import OPERATING_POINT_LABELS  # noqa: E402
from core.reporting import duration  # noqa: E402

START, END = "<!-- results:start (scripts/results_table.py) -->", "<!-- results:end -->"
POINTS = ("default", "report_rule", "sensitivity_95")


def results_table() -> str:
    cards = sorted((load_card(p.parent) for p in CHECKPOINTS_DIR.glob("*/card.json")), key=lambda c: c["trainable_parameters"])
    lines = [
        "| Model | Test AUC (95% CI) | Operating point (chosen on validation) | Threshold | Accuracy | Sensitivity | Specificity | Balanced acc. | FN | FP |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for card in cards:
        metrics = card["metrics"]
        test = metrics["test"]
        auc = f"{test['auc']:.3f} ({test['auc_ci95'][0]:.3f}–{test['auc_ci95'][1]:.3f})"
        for i, point in enumerate(POINTS):
            m = test["operating_points"][point]
            lines.append(
                f"| {card['display_name'] if i == 0 else ''} | {auc if i == 0 else ''} | {OPERATING_POINT_LABELS[point]} | "
                f"{metrics['thresholds'][point]:.3f} | {m['accuracy']:.1%} | {m['sensitivity']:.1%} | {m['specificity']:.1%} | "
                f"{m['balanced_accuracy']:.1%} | {m['fn']} | {m['fp']} |")
    lines += ["", "| Model | Parameters | Size | Input | Initialisation | Trained on | Training time | Best epoch |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for card in cards:
        init = "ImageNet" if card["initialisation"]["imagenet"] else "random"
        lines.append(f"| {card['display_name']} | {card['trainable_parameters']:,} | {card['file_size_bytes'] / 1e6:.1f} MB | "
                     f"{card['input']} | {init} | {card['training']['device']} | {duration(card['training']['epoch_seconds_total'])} ({len(card['training']['history'])} epochs) | "
                     f"{card['training']['best_epoch']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="replace the table in README.md")
    table = results_table()
    if not parser.parse_args().write:
        print(table)
        return
    readme = REPO / "README.md"
    text = readme.read_text()
    before, rest = text.split(START)
    _, after = rest.split(END)
    readme.write_text(f"{before}{START}\n{table}\n{END}{after}")
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
