"""Every model on your own labelled X-rays, for sets too big for a browser: the page "Evaluate on your X-rays" as a command.

    python validate.py PATH [--labels CSV] [--json OUT] [--site-threshold]

PATH is a folder or a zip; labels come from NORMAL/ and PNEUMONIA/ folders (any case) or from a CSV of file,label
rows. Each model is read at the threshold the app opens at (chosen on validation). Metrics are over every labelled
file the gate did not refuse (core/local_evaluation.py, the page's code path). Nothing is written but OUT.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from core.archive import ArchiveError, path_set
from core.local_evaluation import LabelsError, read_labels, read_set, results, sample_size_sentence, summary


def committed():
    """Every usable committed model: name -> (card, the model as the app serves it, test labels and probabilities)."""
    import torch

    from core.checkpoints import CheckpointError, open_checkpoint, require_complete, trained_models
    from core.evaluation import split_arrays
    from core.inference import load_model
    from core.serving import serve

    loaded = {}
    for name, folder in trained_models().items():
        try:
            checkpoint = require_complete(open_checkpoint(folder, expected_name=name))
            served = serve(load_model(checkpoint), threads=torch.get_num_threads())  # as the app reads, with every core
            loaded[name] = (checkpoint.card, served, split_arrays(checkpoint.predictions, "test"))
        except CheckpointError as error:
            print(f"{name} left out: {error}", file=sys.stderr)
    return loaded


class ProgressBar:
    """One line per stage on stderr: redrawn in place on a terminal, else a line at every tenth of the way."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width, self.stage, self.started, self.shown = stream, width, None, time.perf_counter(), -1

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.stage, self.shown = stage, -1
        tenth = 10 * done // max(total, 1)
        if not self.stream.isatty() and tenth == self.shown:
            return
        self.shown = tenth
        filled = self.width * done // max(total, 1)
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        line = f"{stage:>22} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {rate:6.1f}/s"
        self.stream.write(f"\r{line}" if self.stream.isatty() else f"{line}\n")
        if done >= total:
            self.stream.write("\n" if self.stream.isatty() else "")
            self.started = time.perf_counter()  # the next stage starts now
        self.stream.flush()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a folder or a zip of X-rays")
    parser.add_argument("--labels", type=Path, help="a CSV of file,label rows (label normal/pneumonia or 0/1)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--site-threshold", action="store_true",
                        help="also choose each threshold on a seeded stratified half of the set and report it on the other half")
    args = parser.parse_args(argv)
    try:
        labels = read_labels(args.labels.read_bytes()) if args.labels else None
        files = path_set(args.path)
    except (ArchiveError, LabelsError, OSError) as error:
        print(str(error), file=sys.stderr)
        return 2
    from core.ood import Neighbourhood

    models = committed()
    run = read_set(files, Neighbourhood.load(), {n: m for n, (_, m, _) in models.items()}, labels, ProgressBar())
    figures = results(run, {n: c for n, (c, _, _) in models.items()}, {n: c.opening_threshold for n, (c, _, _) in models.items()},
                      {n: t for n, (_, _, t) in models.items()}, site=args.site_threshold)
    report = summary(run, figures)
    print(_text(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _text(report: dict) -> str:
    lines = [f"{report['files']} files: " + ", ".join(f"{n} {outcome}" for outcome, n in report["gate"].items())
             + f"; {report['labelled']} labelled" + (f"; {len(report['skipped'])} left out by name" if report["skipped"] else "")]
    for name, entry in report["models"].items():
        if not entry.get("n"):
            lines.append(f"{name}: no labelled file read")
            continue
        shown = "  ".join(f"{k} {entry[k]:.3f}" if entry[k] is not None else f"{k} -" for k in ("auc", "sensitivity", "specificity", "ppv", "npv"))
        lines.append(f"{name} (threshold {entry['threshold']:.3f}, n {entry['n']}): {shown}  "
                     f"TP {entry['tp']} FP {entry['fp']} TN {entry['tn']} FN {entry['fn']}")
    first = next((e for e in report["models"].values() if e.get("n")), None)
    if first:
        lines.append(sample_size_sentence(first["pneumonia"], first["normal"]))
    if report["duplicates"]:
        lines.append(f"{len(report['duplicates'])} groups of identical files; {len(report['label_conflicts'])} with conflicting labels.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
