"""The model experiments of issue 9: each a blind `train.py` run (validation only) with a recorded config.

    python benchmarks/experiments.py run [ID ...]     # train the runs not done yet, in order (resumable)
    python benchmarks/experiments.py log              # rewrite the table in benchmarks/experiments.md from runs/*/card.json

Runs go to runs/<id>/ (not committed); their cards hold config, seed, wall time and validation figures only.
The selection rule is written in benchmarks/experiments.md, above the table, before any run was made.
"""

import argparse
import os
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import numpy as np
from scipy.special import expit

from core.calibration import log_loss, temperature_scaled_log_loss
from core.cards import Card
from core.checkpoints import open_checkpoint
from core.io import replace_between
from core.metrics import metrics_at, roc_auc, threshold_for_sensitivity
from core.reporting import markdown_table
from core.training import TrainConfig

REPO = Path(__file__).resolve().parent.parent
RUNS = REPO / "runs"
LOG = REPO / "benchmarks" / "experiments.md"
START, END = "<!-- experiments:start (benchmarks/experiments.py log) -->", "<!-- experiments:end -->"
COSINE = ["schedule=cosine", "select_metric=last"]  # a cosine schedule ends where it is meant to: keep the last epoch
XRAY = ["augmentation=xray"]
NOFLIP = ["flip=False"]

# id: (model, --set options, epochs per stage or None for the recipe's, seed)
EXPERIMENTS = {
    "cnn-report": ("cnn", [], None, 0),
    "cnn-report-noflip": ("cnn", NOFLIP, None, 0),
    "cnn-xray": ("cnn", XRAY, None, 0),
    "cnn-xray-noflip": ("cnn", XRAY + NOFLIP, None, 0),
    "cnn-cosine": ("cnn", COSINE, None, 0),
    "cnn-xray-cosine": ("cnn", XRAY + COSINE, None, 0),
    "cnn-xray-cosine-ema": ("cnn", XRAY + COSINE + ["ema_decay=0.999"], None, 0),
    "cnn-xray-cosine-60": ("cnn", XRAY + COSINE, [60], 0),
    "cnn-xray-cosine-smooth": ("cnn", XRAY + COSINE + ["label_smoothing=0.1"], None, 0),
    "cnn-xray-cosine-mixup": ("cnn", XRAY + COSINE + ["mixup_alpha=0.2"], None, 0),
    "cnn-xray-cosine-balanced": ("cnn", XRAY + COSINE + ["balanced_sampling=True"], None, 0),
    # second batch, after the first: horizontal flips hurt, EMA at 0.999 averages in too many early steps
    "cnn-report-noflip-cosine": ("cnn", NOFLIP + COSINE, None, 0),
    "cnn-xray-noflip-cosine": ("cnn", XRAY + NOFLIP + COSINE, None, 0),
    "cnn-xray-noflip-cosine-60": ("cnn", XRAY + NOFLIP + COSINE, [60], 0),
    "cnn-xray-noflip-cosine-ema": ("cnn", XRAY + NOFLIP + COSINE + ["ema_decay=0.99"], None, 0),
    "resnet18_28-xray-noflip-cosine": ("resnet18_28", XRAY + NOFLIP + COSINE, None, 0),
    # the rule's step 4: four more seeds of the winning recipe
    **{f"cnn-report-noflip-seed{seed}": ("cnn", NOFLIP, None, seed) for seed in range(1, 5)},
}


def command(run_id: str, data_root: str | None) -> list[str]:
    model, options, epochs, seed = EXPERIMENTS[run_id]
    args = [sys.executable, str(REPO / "train.py"), "train", "--model", model, "--blind", "--resume",
            "--out", str(RUNS / run_id), "--seed", str(seed)]
    args += [f"--set={option}" for option in options]
    args += ["--epochs", *map(str, epochs)] if epochs else []
    return args + (["--data-root", data_root] if data_root else [])


def run(ids: list[str], data_root: str | None) -> None:
    for run_id in ids or EXPERIMENTS:
        if (RUNS / run_id / "card.json").exists():
            continue
        (RUNS / run_id).mkdir(parents=True, exist_ok=True)
        print(f"== {run_id}", flush=True)
        with open(RUNS / run_id / "train.log", "a") as log:
            subprocess.run(command(run_id, data_root), stdout=log, stderr=subprocess.STDOUT, check=True, cwd=REPO)


# the rule's step 4: the winner's seeds as one model, the mean of their logits (scored from their validation predictions)
ENSEMBLES = {"cnn-report-noflip-x5": ["cnn-report-noflip", *(f"cnn-report-noflip-seed{seed}" for seed in range(1, 5))]}


def _validation(folder: Path) -> tuple[Card, np.ndarray, np.ndarray]:
    checkpoint = open_checkpoint(folder)
    rows = checkpoint.predictions[checkpoint.predictions["split"] == "val"]
    return checkpoint.card, rows["label"].to_numpy(), rows["logit"].to_numpy()


def _scores(labels: np.ndarray, logits: np.ndarray) -> dict:
    scores = expit(logits)  # as the committed probabilities: the logits are fp32, read back as float64
    at_95 = metrics_at(labels, scores, threshold_for_sensitivity(labels, scores, 0.95))
    return {"val_auc": roc_auc(labels, scores), "val_log_loss": log_loss(labels, scores),
            "val_log_loss_t": temperature_scaled_log_loss(labels, logits), "val_spec_at_95": at_95["specificity"]}


def ensemble_row(name: str, members: list[str]) -> dict:
    loaded = [_validation(RUNS / member) for member in members]
    labels = loaded[0][1]
    assert all(np.array_equal(labels, other[1]) for other in loaded)
    return {"run": name, "model": loaded[0][0].name, "changes": f"mean logit of {', '.join(members)}", "epochs": "—",
            "seed": "0–4", "minutes": sum(card.training.epoch_seconds_total for card, _, _ in loaded) / 60, "best_epoch": "—",
            "test": "not looked at"} | _scores(labels, np.mean([logits for _, _, logits in loaded], axis=0))


def validation_row(run_id: str, folder: Path) -> dict:
    card, labels, logits = _validation(folder)
    report = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING and f.name not in ("seed", "amp")}
    changed = [f"{k}={card.config[k]}" for k, v in report.items() if card.config[k] != v]
    return {
        "run": run_id, "model": card.name, "changes": ", ".join(changed) or "(report recipe)",
        "epochs": "+".join(str(s["epochs"]) for s in card.config["stages"]), "seed": card.config["seed"],
        "minutes": card.training.epoch_seconds_total / 60, "best_epoch": card.training.best_epoch,
        "test": "not looked at" if card.metrics.test is None else f"AUC {card.metrics.test.auc:.3f}",
    } | _scores(labels, logits)


def table() -> str:
    rows = [validation_row(folder.name, folder) for folder in sorted(RUNS.glob("*/")) if (folder / "card.json").exists()]
    rows += [ensemble_row(name, members) for name, members in ENSEMBLES.items()
             if all((RUNS / member / "card.json").exists() for member in members)]
    rows.sort(key=lambda r: r["val_log_loss_t"])
    return markdown_table(
        ["run", "model", "changes from the report's recipe", "epochs", "seed", "minutes", "kept epoch", "val AUC", "val log-loss",
         "val log-loss, T-scaled (rule)", "val specificity at 95% sensitivity", "test"],
        [[r["run"], r["model"], r["changes"], r["epochs"], r["seed"], f"{r['minutes']:.1f}", r["best_epoch"], f"{r['val_auc']:.4f}",
          f"{r['val_log_loss']:.4f}", f"{r['val_log_loss_t']:.4f}", f"{r['val_spec_at_95']:.3f}", r["test"]] for r in rows])


def write_log() -> None:
    replace_between(LOG, START, END, table())
    print(f"updated {LOG}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "log"))
    parser.add_argument("ids", nargs="*", help=f"runs to train (default: all not done): {', '.join(EXPERIMENTS)}")
    parser.add_argument("--data-root", default=os.environ.get("PNEUMONIA_DATA_ROOT"))
    args = parser.parse_args()
    unknown = set(args.ids) - set(EXPERIMENTS)
    if unknown:
        parser.error(f"unknown run(s) {sorted(unknown)}")
    run(args.ids, args.data_root) if args.action == "run" else write_log()


if __name__ == "__main__":
    main()
