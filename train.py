"""Train the report's two pneumonia classifiers on PneumoniaMNIST, or re-check a committed checkpoint.

    python train.py train --model cnn          # 25 epochs (report recipe), about 3 minutes on 2 CPU cores
    python train.py train --model resnet18     # 10 + 15 epochs; ImageNet weights when they can be had
    python train.py evaluate --model cnn       # recompute predictions from the data, compare with the committed ones

Each run writes checkpoints/<model>/ (weights, card, predictions); see core/checkpoints.py.
"""

import argparse
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import core  # noqa: F401  (installs the torchvision shim before anything imports torchvision)
import torch

from core.checkpoints import CHECKPOINTS_DIR, load_card, load_model, load_predictions, save_checkpoint
from core.data import DATA_FILE, DATA_ROOT_ENV, DataNotFoundError, load_dataset
from core.evaluation import CHOSEN_OPERATING_POINT, compare_with_committed, predictions_frame, summarise
from core.models import WEIGHTS_FILE_ENV, build_model, count_trainable_parameters, load_imagenet_weights
from core.training import Stage, TrainConfig, fit, recipe

MODELS = {"cnn": "custom_cnn", "resnet18": "resnet18"}
DISPLAY_NAMES = {"custom_cnn": "Custom CNN", "resnet18": "ResNet-18"}
INPUTS = {"custom_cnn": "1×28×28 grey", "resnet18": "3×224×224 (28×28 grey upsampled, replicated)"}
RESUME_FILE = "resume.pt"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "evaluate"):
        command = commands.add_parser(name)
        command.add_argument("--model", choices=MODELS, required=True)
        command.add_argument("--data-root", help=f"folder holding {DATA_FILE} (default: ${DATA_ROOT_ENV}, else ~/.medmnist)")
        command.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
        command.add_argument("--out", type=Path, help="checkpoint folder (default: checkpoints/<model>)")
    train = commands.choices["train"]
    train.add_argument("--epochs", type=int, nargs="+", help="epochs per stage (default: the report's)")
    train.add_argument("--pretrained", choices=("auto", "imagenet", "none"), default="auto",
                       help="ResNet-18 initialisation; auto falls back to random when no ImageNet weights can be had")
    train.add_argument("--weights-file", help=f"local torchvision ResNet-18 ImageNet .pth (default: ${WEIGHTS_FILE_ENV})")
    train.add_argument("--weight-factor", type=float, default=0.5, help="class-weight factor (see core.training)")
    train.add_argument("--no-flip", action="store_true", help="no horizontal flips: a flipped X-ray puts the heart on the right")
    train.add_argument("--amp", choices=("auto", "off"), default="auto", help="bf16 autocast where the device supports it")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--subset", type=int, help="use only the first N images of each split (smoke runs)")
    train.add_argument("--resume", action="store_true", help=f"continue from <out>/{RESUME_FILE} after an interruption")
    return parser.parse_args(argv)


def pick_device(name: str) -> torch.device:
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else "cpu" if name == "auto" else name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")), cpu)
    return f"cpu: {cpu}, {torch.get_num_threads()} threads"


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def initialise(model, architecture: str, args) -> dict:
    """Load ImageNet weights into ResNet-18 when asked/possible; return the card's record of what happened."""
    if architecture != "resnet18":
        return {"imagenet": False, "source": "random (trained from scratch, as the report)"}
    if args.pretrained == "none":
        return {"imagenet": False, "source": "random", "reason": "--pretrained none"}
    try:
        return {"imagenet": True} | load_imagenet_weights(model, args.weights_file)
    except (OSError, RuntimeError) as error:
        if args.pretrained == "imagenet":
            raise SystemExit(f"error: could not load ImageNet weights: {error}")
        print(f"warning: no ImageNet weights ({error}); training ResNet-18 from random initialisation", file=sys.stderr)
        return {"imagenet": False, "source": "random", "reason": f"ImageNet weights unavailable: {error}"}


def departures(architecture: str, config: TrainConfig, default_stages: tuple[Stage, ...], initialisation: dict, subset) -> list[str]:
    """Every way this run differs from the report's recipe, for the card and the README."""
    notes = [
        "best epoch chosen by validation AUC (report: validation accuracy)",
        "operating points chosen on validation, reported on test (report: chosen on test)",
    ]
    if architecture == "resnet18" and not initialisation["imagenet"]:
        notes.append("ResNet-18 from random initialisation, not ImageNet: stage 1 trains all layers at lr 1e-3 (nothing to freeze)")
    if [s.epochs for s in config.stages] != [s.epochs for s in default_stages]:
        notes.append(f"epochs per stage {[s.epochs for s in config.stages]} (report: {[s.epochs for s in default_stages]})")
    if config.amp:
        notes.append("bf16 autocast in training and per-epoch validation (weights and committed predictions fp32)")
    if not config.flip:
        notes.append("no horizontal flip augmentation")
    if subset:
        notes.append(f"only the first {subset} images of each split")
    return notes


def train_command(args) -> None:
    architecture = MODELS[args.model]
    out = args.out or CHECKPOINTS_DIR / args.model
    device = pick_device(args.device)
    dataset = load_dataset(args.data_root)
    if args.subset:
        dataset.splits.update({name: split.head(args.subset) for name, split in dataset.splits.items()})
    train, val = dataset.splits["train"], dataset.splits["val"]
    print(f"data: {dataset.path} (sha256 {dataset.sha256[:12]}…), train {train.class_counts()}, val {val.class_counts()} (normal, pneumonia)")

    torch.manual_seed(args.seed)  # the same random initialisation every run
    model = build_model(architecture)
    initialisation = initialise(model, architecture, args)
    default_stages, batch_size = recipe(architecture, imagenet_initialised=initialisation["imagenet"])
    epochs = args.epochs or [s.epochs for s in default_stages]
    if len(epochs) != len(default_stages):
        raise SystemExit(f"error: --epochs needs {len(default_stages)} value(s), one per stage: {[s.name for s in default_stages]}")
    stages = tuple(Stage(s.name, n, s.lr, s.freeze_backbone) for s, n in zip(default_stages, epochs))
    config = TrainConfig(stages=stages, batch_size=batch_size, weight_factor=args.weight_factor, flip=not args.no_flip,
                         seed=args.seed, amp=args.amp == "auto" and bf16_supported(device))

    resume_path = out / RESUME_FILE
    if resume_path.exists() and not args.resume:
        resume_path.unlink()
    print(f"{DISPLAY_NAMES[architecture]}: {count_trainable_parameters(model):,} trainable parameters, "
          f"init {initialisation['source']}, device {describe_device(device)}, bf16 autocast {config.amp}")
    started = datetime.now(timezone.utc)
    result = fit(model, train, val, config, device, resume_path=resume_path)

    model.load_state_dict(result.best_state)
    predictions = predictions_frame(model, dataset, device)
    card = {
        "name": args.model,
        "display_name": DISPLAY_NAMES[architecture],
        "architecture": architecture,
        "input": INPUTS[architecture],
        "trainable_parameters": count_trainable_parameters(model),
        "initialisation": initialisation,
        "config": config.as_dict(),
        "loss": {"pos_weight": result.pos_weight, "formula": "weight_factor * N_normal / N_pneumonia (report Eq. 4)"},
        "data": {
            "file": DATA_FILE,
            "sha256": dataset.sha256,
            "class_counts": {name: dict(zip(("normal", "pneumonia"), s.class_counts())) for name, s in dataset.splits.items()},
        },
        "training": {
            "device": describe_device(device),
            "torch": torch.__version__,
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "epoch_seconds_total": result.seconds,
            "best_epoch": result.best_epoch,
            "history": result.history,
        },
        "departures_from_report": departures(architecture, config, default_stages, initialisation, args.subset),
        "metrics": summarise(predictions),
    }
    save_checkpoint(out, model, card, predictions)
    resume_path.unlink(missing_ok=True)
    print(f"wrote {out}")
    print_summary(card)


def print_summary(card: dict) -> None:
    metrics = card["metrics"]
    print(f"test AUC {metrics['test']['auc']:.4f} (95% CI {metrics['test']['auc_ci95'][0]:.4f}-{metrics['test']['auc_ci95'][1]:.4f})")
    for name in ("default", CHOSEN_OPERATING_POINT):
        m = metrics["test"]["operating_points"][name]
        print(f"  threshold {metrics['thresholds'][name]:.4f} ({name}): accuracy {m['accuracy']:.4f}  sensitivity {m['sensitivity']:.4f}  "
              f"specificity {m['specificity']:.4f}  balanced {m['balanced_accuracy']:.4f}  FN {m['fn']}  FP {m['fp']}")


def evaluate_command(args) -> None:
    folder = args.out or CHECKPOINTS_DIR / args.model
    device = pick_device(args.device)
    dataset = load_dataset(args.data_root)
    card = load_card(folder)
    if card["data"]["sha256"] != dataset.sha256:
        print(f"note: data file sha256 {dataset.sha256[:12]}… differs from the card's {card['data']['sha256'][:12]}…")
    started = time.perf_counter()
    recomputed = predictions_frame(load_model(folder, device), dataset, device)
    problems = compare_with_committed(recomputed, load_predictions(folder), card)
    print(f"recomputed {len(recomputed)} predictions in {time.perf_counter() - started:.1f}s on {describe_device(device)}")
    print_summary(card | {"metrics": summarise(recomputed)})
    if problems:
        raise SystemExit("MISMATCH with committed checkpoint:\n  " + "\n  ".join(problems))
    print(f"match: {folder} predictions and metrics reproduce")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        {"train": train_command, "evaluate": evaluate_command}[args.command](args)
    except DataNotFoundError as error:
        raise SystemExit(f"error: {error}")


if __name__ == "__main__":
    main()
