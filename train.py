"""Train a registry model on PneumoniaMNIST, or re-check a committed checkpoint.

    python train.py train --model cnn          # the report's CNN recipe, about 2 minutes on 2 CPU cores
    python train.py train --model resnet18     # 10 + 15 epochs; ImageNet weights when they can be had
    python train.py train --model cnn --set augmentation=xray --set schedule=cosine --blind --out runs/cnn-xray
    python train.py evaluate --model cnn       # recompute predictions from the data, compare with the committed ones
    python train.py refresh --model cnn        # recompute the card's metrics and calibration from its committed predictions
    python train.py robustness --model cnn     # (re)measure a committed checkpoint under the perturbation suite
    python train.py assemble --model cnn_noflip_x5 --runs runs/a runs/b ...   # the checkpoint from blind runs of its recipe
    python train.py explanations --model cnn   # heatmap sanity checks and faithfulness on validation (explanations.json)

Each run writes a checkpoint folder (default checkpoints/<model>/: weights, card, predictions and predictions under the
perturbation suite of core/perturbations.py; see core/checkpoints.py).
--blind predicts validation only, for model selection that never looks at test.
"""

import argparse
import ast
import dataclasses
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load as load_safetensors

from core.cards import Card, ClassCounts, DataRecord, InitialisationRecord, LossRecord, TrainingRecord
from core.checkpoints import CHECKPOINTS_DIR, CheckpointError, open_checkpoint, save_checkpoint, trained_models
from core.data import DATA_FILE, DATA_ROOT_ENV, DataNotFoundError, load_dataset
from core.evaluation import CHOSEN_OPERATING_POINT, compare_with_committed, fit_recalibration, summarise
from core.inference import load_model, predictions_frame
from core.perturbations import SUITE
from core.robustness import perturbed_frame, robustness_record
from core.models import (
    WEIGHTS_FILE_ENV, FramingAverage, SeedEnsemble, count_trainable_parameters, load_imagenet_weights, new_model, weights_to_bytes,
)
from core.registry import REGISTRY, Stage, spec
from core.recipe import TrainConfig
from core.training import TrainResult, bf16_supported, describe_device, fit, pick_device

RESUME_FILE = "resume.pt"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "evaluate", "refresh", "robustness", "assemble", "explanations"):
        command = commands.add_parser(name)
        command.add_argument("--model", choices=REGISTRY, required=True)
        command.add_argument("--data-root", help=f"folder holding {DATA_FILE} (default: ${DATA_ROOT_ENV}, else ~/.medmnist)")
        command.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
        command.add_argument("--out", type=Path, help="checkpoint folder (default: checkpoints/<model>)")
    train = commands.choices["train"]
    train.add_argument("--epochs", type=int, nargs="+", help="epochs per stage (default: the registry's recipe)")
    train.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                       help="override a training option of core.training.TrainConfig, e.g. --set schedule=cosine (repeatable)")
    train.add_argument("--pretrained", choices=("auto", "imagenet", "none"), default="auto",
                       help="ImageNet initialisation for models that want it; auto falls back to random when no weights can be had")
    train.add_argument("--weights-file", help=f"local torchvision ResNet-18 ImageNet .pth (default: ${WEIGHTS_FILE_ENV})")
    train.add_argument("--no-flip", action="store_true", help="no horizontal flips: a flipped X-ray puts the heart on the right")
    train.add_argument("--amp", choices=("auto", "off"), default="auto", help="bf16 autocast where the device supports it")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--subset", type=int, help="use only the first N images of each split (smoke runs)")
    train.add_argument("--blind", action="store_true", help="predict validation only: the card gets no test metrics")
    train.add_argument("--resume", action="store_true", help=f"continue from <out>/{RESUME_FILE} after an interruption")
    commands.choices["robustness"].add_argument("--missing", action="store_true",
                                                help="measure only the perturbations its perturbed.csv lacks (the suite grew); keep the rest")
    commands.choices["assemble"].add_argument("--runs", type=Path, nargs="+", required=True,
                                              help="blind run folders trained with the model's recipe, one per member, seeds in order")
    explanations = commands.choices["explanations"]
    explanations.add_argument("--per-class", type=int, default=40, help="validation images of each class (default 40)")
    explanations.add_argument("--seeds", type=int, default=5, help="randomisation seeds (default 5)")
    return parser.parse_args(argv)


def parse_overrides(pairs: list[str]) -> dict:
    """OPTION=VALUE strings to a dict, values read as Python literals where they are one (0.1, True), else strings."""
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: --set needs OPTION=VALUE, got {pair!r}")
        try:
            overrides[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            overrides[key] = text
    return overrides


def initialise(model, name: str, args) -> InitialisationRecord:
    """Load ImageNet weights, or another model's committed weights, when the registry entry wants them (and ImageNet
    weights can be had); the card's record of it."""
    if spec(name).warm_start:
        return warm_start(model, spec(name).warm_start)
    if not spec(name).imagenet:
        return InitialisationRecord(imagenet=False, source="random (trained from scratch, as the report)")
    if isinstance(model, SeedEnsemble):  # each member is rebuilt on its own seed in fit_model
        raise SystemExit(f"error: {name}: ImageNet initialisation of seed-ensemble members is not supported")
    if args.pretrained == "none":
        return InitialisationRecord(imagenet=False, source="random", reason="--pretrained none")
    try:
        return InitialisationRecord(imagenet=True, **load_imagenet_weights(model, args.weights_file))
    except (OSError, RuntimeError) as error:
        if args.pretrained == "imagenet":
            raise SystemExit(f"error: could not load ImageNet weights: {error}")
        print(f"warning: no ImageNet weights ({error}); training from random initialisation", file=sys.stderr)
        return InitialisationRecord(imagenet=False, source="random", reason=f"ImageNet weights unavailable: {error}")


def warm_start(model, source: str) -> InitialisationRecord:
    """Load a committed checkpoint's weights (checked against its card) into a model of the same architecture."""
    checkpoint = opened(CHECKPOINTS_DIR / source)
    if (checkpoint.card.architecture, checkpoint.card.architecture_options) != (spec(source).architecture, dict(spec(source).options)):
        raise SystemExit(f"error: the {source} checkpoint's architecture differs from its registry entry")
    model.load_state_dict(load_safetensors(checkpoint.weights()))
    return InitialisationRecord(imagenet=False, source=f"warm start from the committed {spec(source).display_name} ({source})",
                                file=f"checkpoints/{source}/model.safetensors", sha256=checkpoint.card.weights_sha256)


def stages_for(name: str, imagenet: bool, epochs: list[int] | None) -> tuple[Stage, ...]:
    """The registry's stages; without ImageNet weights a frozen-backbone stage trains all layers (nothing to freeze)."""
    stages = spec(name).stages
    if epochs is not None and len(epochs) != len(stages):
        raise SystemExit(f"error: --epochs needs {len(stages)} value(s), one per stage: {[s.name for s in stages]}")
    return tuple(
        Stage("all_layers" if stage.freeze_backbone and not imagenet else stage.name, n, stage.lr, stage.freeze_backbone and imagenet)
        for stage, n in zip(stages, epochs or [s.epochs for s in stages]))


def departures(name: str, config: TrainConfig, initialisation: InitialisationRecord, subset) -> list[str]:
    """Every way this run differs from the report's recipe, for the card and the README."""
    notes = [
        {"val_auc": "best epoch chosen by validation AUC (report: validation accuracy)",
         "val_loss": "best epoch chosen by validation loss (report: validation accuracy)",
         "last": "the last epoch's weights kept (report: the epoch with the best validation accuracy)"}[config.select_metric],
        "operating points chosen on validation, reported on test (report: chosen on test)",
    ]
    if spec(name).warm_start:
        notes.append(f"{initialisation.source}, not from random initialisation")
    if spec(name).imagenet and not initialisation.imagenet:
        notes.append(f"from random initialisation, not ImageNet: stage 1 trains all layers at lr {config.stages[0].lr:g} (nothing to freeze)")
    if [s.epochs for s in config.stages] != [s.epochs for s in spec(name).stages]:
        notes.append(f"epochs per stage {[s.epochs for s in config.stages]} (recipe: {[s.epochs for s in spec(name).stages]})")
    if config.amp:
        notes.append("bf16 autocast in training and per-epoch validation (weights and committed predictions fp32)")
    report = TrainConfig(stages=config.stages, batch_size=config.batch_size)
    for option in ("weight_factor", "weight_decay", "schedule", "augmentation", "flip", "max_rotation_degrees",
                   "label_smoothing", "mixup_alpha", "balanced_sampling", "ema_decay"):
        if getattr(config, option) != getattr(report, option):
            notes.append(f"{option} = {getattr(config, option)} (report: {getattr(report, option)})")
    if subset:
        notes.append(f"only the first {subset} images of each split")
    return notes


def train_command(args) -> None:
    name = args.model
    out = args.out or CHECKPOINTS_DIR / name
    device = pick_device(args.device)
    dataset = load_dataset(args.data_root)
    if args.subset:
        dataset.splits.update({split: data.head(args.subset) for split, data in dataset.splits.items()})
    train, val = dataset.splits["train"], dataset.splits["val"]
    print(f"data: {dataset.path} (sha256 {dataset.sha256[:12]}…), train {train.class_counts()}, val {val.class_counts()} (normal, pneumonia)")

    torch.manual_seed(args.seed)  # the same random initialisation every run
    model = new_model(name)
    initialisation = initialise(model, name, args)
    overrides = parse_overrides(args.set) | {"seed": args.seed, "amp": args.amp == "auto" and bf16_supported(device)}
    if args.no_flip:
        overrides["flip"] = False
    try:
        config = TrainConfig.for_model(spec(name), **overrides, stages=stages_for(name, initialisation.imagenet, args.epochs))
    except ValueError as error:
        raise SystemExit(f"error: {error}")

    if not args.resume:
        for stale in out.glob("resume*.pt"):
            stale.unlink()
    print(f"{spec(name).display_name}: {count_trainable_parameters(model):,} trainable parameters, "
          f"init {initialisation.source}, device {describe_device(device)}, bf16 autocast {config.amp}")
    started = datetime.now(timezone.utc)
    result, member_best_epochs = fit_model(model, train, val, config, device, out)
    model.load_state_dict(result.best_state)
    training = TrainingRecord(
        device=describe_device(device), torch=torch.__version__, started=started.isoformat(timespec="seconds"),
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), epoch_seconds_total=result.seconds,
        best_epoch=result.best_epoch, history=result.history, member_best_epochs=member_best_epochs)
    write_checkpoint(name, model, dataset, config, initialisation, training, result.pos_weight, out, args.blind, args.subset)
    for finished in out.glob("resume*.pt"):
        finished.unlink()


def write_checkpoint(name, model, dataset, config: TrainConfig, initialisation: InitialisationRecord, training: TrainingRecord,
                     pos_weight: float, out: Path, blind: bool, subset=None) -> Card:
    """Predict validation (and test unless blind), clean and under the perturbation suite, and write the checkpoint."""
    model = model.cpu().eval()  # predictions are computed in fp32 on the CPU, as the app computes them
    evaluated = {split: dataset.splits[split] for split in (("val",) if blind else ("val", "test"))}
    predictions = predictions_frame(model, evaluated)
    print("predicting under the perturbation suite…")
    perturbed = perturbed_frame(model, evaluated)
    metrics = summarise(predictions)
    card = Card(
        name=name,
        architecture=spec(name).architecture,
        architecture_options=dict(spec(name).options),
        input=spec(name).input,
        trainable_parameters=count_trainable_parameters(model),
        initialisation=initialisation,
        config=config,
        loss=LossRecord(pos_weight, "weight_factor * N_normal / N_pneumonia (report Eq. 4)"),
        data=DataRecord(file=DATA_FILE, sha256=dataset.sha256,
                        class_counts={split: ClassCounts(*data.class_counts()) for split, data in dataset.splits.items()}),
        training=training,
        departures_from_report=departures(name, config, initialisation, subset),
        metrics=metrics,
        calibration=fit_recalibration(predictions),
        robustness=robustness_record(perturbed, predictions, metrics.thresholds[metrics.chosen_operating_point]),
    )
    card = save_checkpoint(out, weights_to_bytes(model), card, predictions, perturbed)
    print(f"wrote {out}")
    print_summary(card)
    return card


def assemble_command(args) -> None:
    """A registry model from blind runs already trained with its recipe (one per seed-ensemble member, seeds in order),
    so that the model-selection runs themselves become the checkpoint, without training them again."""
    name, entry = args.model, spec(args.model)
    runs = [opened(folder) for folder in args.runs]
    dataset = load_dataset(args.data_root)
    model = new_model(name)
    itself = len(runs) == 1 and (runs[0].card.architecture, runs[0].card.architecture_options) == (entry.architecture, dict(entry.options))
    # the trained networks, without the framings (unless the run trained the registry model itself)
    inner = model.base if isinstance(model, FramingAverage) and not itself else model
    members = list(inner.members) if isinstance(inner, SeedEnsemble) else [inner]
    if len(runs) != len(members):
        raise SystemExit(f"error: {entry.display_name} has {len(members)} member(s); {len(runs)} run(s) given")
    first, ensemble = runs[0].card, isinstance(inner, SeedEnsemble)
    member_architecture = ((inner.member, inner.options) if ensemble else (model.model, model.options) if inner is not model
                           else (entry.architecture, dict(entry.options)))
    for index, (run, member) in enumerate(zip(runs, members)):
        card = run.card
        recipe = TrainConfig.for_model(entry, seed=first.config.seed + index, amp=card.config.amp)
        full_counts = {split: ClassCounts(*data.class_counts()) for split, data in dataset.splits.items()}
        problems = [what for what, ok in (
            ("architecture", (card.architecture, card.architecture_options) == member_architecture),
            ("recipe", card.config == recipe),
            ("data", card.data.sha256 == dataset.sha256 and card.data.class_counts == full_counts)) if not ok]  # no --subset runs
        if problems:
            raise SystemExit(f"error: {run.folder} differs from {entry.display_name}'s member {index} in its {', '.join(problems)}")
        member.load_state_dict(load_safetensors(run.weights()))
    cards = [run.card for run in runs]
    training = TrainingRecord(
        device=first.training.device, torch=first.training.torch, started=min(c.training.started for c in cards),
        finished=max(c.training.finished for c in cards), epoch_seconds_total=sum(c.training.epoch_seconds_total for c in cards),
        best_epoch=first.training.best_epoch,
        history=[dataclasses.replace(record, member=index if ensemble else None) for index, c in enumerate(cards) for record in c.training.history],
        member_best_epochs=[c.training.best_epoch for c in cards] if ensemble else None)
    write_checkpoint(name, model, dataset, first.config, first.initialisation, training, first.loss.pos_weight, args.out or CHECKPOINTS_DIR / name,
                     blind=False)


def fit_model(model, train, val, config: TrainConfig, device, out: Path) -> tuple[TrainResult, list[int] | None]:
    """Fit one model; or each member of a seed ensemble on its own seed (the run's seed + k), exactly as a single run
    with that seed would be trained: same initialisation, same batches. A FramingAverage trains the network it wraps."""
    if isinstance(model, FramingAverage):  # trained without the framings, which it adds at prediction time
        result, member_best_epochs = fit_model(model.base, train, val, config, device, out)
        model.base.load_state_dict(result.best_state)
        return dataclasses.replace(result, best_state=model.state_dict()), member_best_epochs
    if not isinstance(model, SeedEnsemble):
        return fit(model, train, val, config, device, resume_path=out / RESUME_FILE), None
    results = []
    for index in range(len(model.members)):
        seed = config.seed + index
        torch.manual_seed(seed)
        model.members[index] = model.new_member()
        print(f"member {index + 1}/{len(model.members)}, seed {seed}")
        result = fit(model.members[index], train, val, dataclasses.replace(config, seed=seed), device,
                     resume_path=out / f"resume-{index}.pt")
        model.members[index].load_state_dict(result.best_state)
        results.append(result)
    history = [dataclasses.replace(record, member=index) for index, result in enumerate(results) for record in result.history]
    combined = TrainResult(history, results[0].best_epoch, model.state_dict(), sum(r.seconds for r in results), results[0].pos_weight)
    return combined, [result.best_epoch for result in results]


def print_summary(card: Card) -> None:
    metrics = card.metrics
    for split in ("val", "test"):
        scores = getattr(metrics, split)
        if scores is None:
            continue
        print(f"{split} AUC {scores.auc:.4f} (95% CI {scores.auc_ci95[0]:.4f}-{scores.auc_ci95[1]:.4f})")
        for point in ("default", CHOSEN_OPERATING_POINT):
            m = scores.operating_points[point]
            print(f"  threshold {metrics.thresholds[point]:.4f} ({point}): accuracy {m['accuracy']:.4f}  sensitivity {m['sensitivity']:.4f}  "
                  f"specificity {m['specificity']:.4f}  balanced {m['balanced_accuracy']:.4f}  FN {m['fn']}  FP {m['fp']}")


def opened(folder: Path):
    """The checkpoint in folder, or the command stops with the sentence saying why it cannot be used."""
    try:
        return open_checkpoint(folder)
    except CheckpointError as error:
        raise SystemExit(f"error: {error}")


def evaluate_command(args) -> None:
    folder = args.out or CHECKPOINTS_DIR / args.model
    device = pick_device(args.device)
    dataset = load_dataset(args.data_root)
    checkpoint = opened(folder)
    card = checkpoint.card
    if card.data.sha256 != dataset.sha256:
        print(f"note: data file sha256 {dataset.sha256[:12]}… differs from the card's {card.data.sha256[:12]}…")
    started = time.perf_counter()
    splits = {split: dataset.splits[split] for split in ("val", "test") if getattr(card.metrics, split) is not None}
    recomputed = predictions_frame(load_model(checkpoint).to(device), splits, device)
    problems = compare_with_committed(recomputed, checkpoint.predictions, card)
    print(f"recomputed {len(recomputed)} predictions in {time.perf_counter() - started:.1f}s on {describe_device(device)}")
    print_summary(card)
    if problems:
        raise SystemExit("MISMATCH with committed checkpoint:\n  " + "\n  ".join(problems))
    print(f"match: {folder} predictions and metrics reproduce")


def refresh_command(args) -> None:
    """Rewrite what a card derives from its committed predictions (metrics, calibration), e.g. after core changes them."""
    folder = args.out or CHECKPOINTS_DIR / args.model
    checkpoint = opened(folder)
    predictions, perturbed = checkpoint.predictions, checkpoint.perturbed()
    metrics = summarise(predictions)
    robustness = None if perturbed is None else robustness_record(perturbed, predictions, metrics.thresholds[metrics.chosen_operating_point])
    card = dataclasses.replace(checkpoint.card, metrics=metrics, calibration=fit_recalibration(predictions), robustness=robustness)
    save_checkpoint(folder, checkpoint.weights(), card, predictions, perturbed)
    print(f"refreshed {folder / 'card.json'}")


def robustness_command(args) -> None:
    """Predict a committed checkpoint's splits under the perturbation suite and record it in its card."""
    folder = args.out or CHECKPOINTS_DIR / args.model
    checkpoint = opened(folder)
    dataset = load_dataset(args.data_root)
    card = checkpoint.card
    splits = {split: dataset.splits[split] for split in ("val", "test") if getattr(card.metrics, split) is not None}
    started = time.perf_counter()
    measured = checkpoint.perturbed() if args.missing else None
    if measured is None:
        perturbed = perturbed_frame(load_model(checkpoint), splits)  # on the CPU, as predictions.csv was made
    else:
        missing = tuple(p for p in SUITE if p.name not in measured.columns)
        added = perturbed_frame(load_model(checkpoint), splits, perturbations=missing)
        if not added[["split", "index"]].equals(measured[["split", "index"]]):
            raise SystemExit(f"error: {folder}'s perturbed predictions hold other images than its card's splits; measure them all again")
        perturbed = pd.concat([measured, added.drop(columns=["split", "index"])], axis=1)[["split", "index", *(p.name for p in SUITE)]]
    record = robustness_record(perturbed, checkpoint.predictions, card.opening_threshold)
    save_checkpoint(folder, checkpoint.weights(), dataclasses.replace(card, robustness=record), checkpoint.predictions, perturbed)
    print(f"{len(perturbed)} images × {len(record.perturbations)} perturbations in {time.perf_counter() - started:.0f}s; "
          + "; ".join(f"{split}: worst balanced accuracy {record.worst_balanced_accuracy[split]:.3f} ({record.weakest[split]})"
                      for split in splits))


def explanations_command(args) -> None:
    """Sanity checks and faithfulness of the heatmap of a committed checkpoint, on a fixed validation sample, written
    beside its card (explanations.json; see docs/heatmap-method.md)."""
    from core import explanations
    from core.inference import gradcam, predict_logits, probabilities
    from core.metrics import is_positive

    folder = args.out or CHECKPOINTS_DIR / args.model
    checkpoint = opened(folder)
    card = checkpoint.card
    val = load_dataset(args.data_root).splits["val"]
    labels = val.labels.numpy().astype(int).ravel()
    sample = explanations.validation_sample(labels, args.per_class)
    images, sample_labels = val.images[sample, 0].numpy(), labels[sample]
    layers = [path.split("*.")[-1].removeprefix("base.") for path in (spec(args.model).cam_layer,)]
    if spec(args.model).options.get("small_stem"):  # a 4×4 last stage at 28 px: compared with the finer stage 3
        layers = ["backbone.layer4.1", "backbone.layer3.1"]
    started = time.perf_counter()
    print(f"{spec(args.model).display_name}: {len(sample)} validation images, {args.seeds} seeds, layers {layers}")
    record = explanations.measure(load_model(checkpoint), images, sample_labels, card.opening_threshold, layers,
                                  seeds=tuple(range(args.seeds)))
    others = {}
    for name, other_folder in trained_models(folder.parent).items():
        if name != args.model:
            other = opened(other_folder)
            model = load_model(other)
            decided = is_positive(probabilities(predict_logits(model, images)), other.card.opening_threshold).astype(int)
            others[name] = gradcam(model, images, decided)
    shown = record["_heatmaps"]
    record["models"] = {name: explanations.mean_interval(explanations.spearman(shown, maps)) for name, maps in others.items()}
    record = {"schema": explanations.RECORD_SCHEMA, "model": args.model, "weights_sha256": card.weights_sha256,
              "predictions_sha256": card.predictions_sha256, "made_by": f"python train.py explanations --model {args.model}",
              "torch": torch.__version__, "split": "val", "sample": sample.tolist(), "labels": sample_labels.tolist(),
              "threshold": card.opening_threshold, "seconds": round(time.perf_counter() - started, 1)} | record
    explanations.write_record(folder, record)
    chosen = record["candidates"][record["chosen"]]
    print(f"wrote {folder / explanations.RECORD_FILE} in {record['seconds']:.0f}s: shows {record['chosen']} "
          f"(ROAD {chosen['road']['mean']:.2f}, randomisation passed at {explanations.depths_passed(chosen)} of "
          f"{len(chosen['cascading'])} depths); {record['why']}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        {"train": train_command, "evaluate": evaluate_command, "refresh": refresh_command,
         "robustness": robustness_command, "assemble": assemble_command, "explanations": explanations_command}[args.command](args)
    except DataNotFoundError as error:
        raise SystemExit(f"error: {error}")


if __name__ == "__main__":
    main()
