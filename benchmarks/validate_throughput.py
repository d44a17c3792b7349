"""Throughput and memory of evaluating a set (core.local_evaluation, what validate.py and the page run) on
full-resolution JPEGs.

    python benchmarks/validate_throughput.py [--files 1000] [--models cnn,resnet18]

Makes N distinct full-resolution chest X-ray JPEGs from ../shared/fixtures/cxr (each a Kermany image enlarged to
1800-2600 px wide, cropped a little differently, quality 90), zips them into a temporary file (the benchmark's own
input, deleted after), and reads the zip as validate.py does. Prints files per second for the gate (decode, 28×28,
gate) and for each model, overall files per second, and the process's resident memory as the run goes: it stays flat,
since only the 28×28, a hash, the name and a 64 px thumbnail are kept per file.
"""

import argparse
import io
import os
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures" / "cxr"


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_set(path: Path, count: int, seed: int = 0) -> float:
    """count JPEGs in NORMAL/ and PNEUMONIA/ (by the source file's name), zipped (stored: JPEGs do not deflate); mean MB."""
    sources = [(p, np.asarray(Image.open(p).convert("L"))) for p in sorted(FIXTURES.glob("*.jpeg"))]
    rng = np.random.default_rng(seed)
    total = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            source, pixels = sources[index % len(sources)]
            height, width = pixels.shape
            top, left = rng.integers(0, max(1, height // 20)), rng.integers(0, max(1, width // 20))
            crop = Image.fromarray(pixels[top:, left:])
            wide = int(rng.integers(1800, 2601))
            image = crop.resize((wide, round(wide * crop.height / crop.width)), Image.Resampling.BICUBIC)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=90)
            total += buffer.tell()
            folder = "PNEUMONIA" if "bacteria" in source.name or "virus" in source.name else "NORMAL"
            archive.writestr(f"{folder}/{index:05d}.jpeg", buffer.getvalue())
    return total / count / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--models", default="", help="comma-separated registry names (default: every committed model)")
    args = parser.parse_args()
    if not FIXTURES.is_dir():
        sys.exit(f"no fixtures at {FIXTURES}")

    import torch

    from core.archive import path_set
    from core.checkpoints import open_checkpoint, require_complete, trained_models
    from core.inference import load_model
    from core.local_evaluation import read_set
    from core.ood import Neighbourhood
    from core.serving import serve

    wanted = [n for n in args.models.split(",") if n] or list(trained_models())
    models = {n: serve(load_model(require_complete(open_checkpoint(f))), threads=torch.get_num_threads())
              for n, f in trained_models().items() if n in wanted}
    neighbourhood = Neighbourhood.load()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "set.zip"
        started = time.perf_counter()
        size = write_set(path, args.files)
        print(f"{args.files} JPEGs, 1800-2600 px wide, mean {size:.2f} MB, zip {path.stat().st_size / 1e6:.0f} MB "
              f"(made in {time.perf_counter() - started:.0f} s); torch threads {torch.get_num_threads()}")
        baseline = resident_mb()
        print(f"resident memory with models and reference loaded: {baseline:.0f} MB (peak so far {peak_mb():.0f} MB)")
        stages, marks = {}, {}

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter()
            stages.setdefault(stage, [now, now, total])[1] = now
            if stage == "gate" and done % max(1, total // 4) == 0:
                marks[done] = resident_mb()

        started = time.perf_counter()
        run = read_set(path_set(path), neighbourhood, models, progress=progress)
        elapsed = time.perf_counter() - started
    previous = started
    for stage, (first, last, total) in stages.items():
        print(f"{stage:>22}: {total / (last - previous):7.1f} files/s")
        previous = last
    outcomes = {o: sum(c.outcome == o for c in run.cases) for o in ("accepted", "flagged", "refused")}
    print(f"load average over the last 15 minutes: {os.getloadavg()[2]:.1f} on {os.cpu_count()} cores")
    print(f"overall: {len(run.cases) / elapsed:.1f} files/s ({elapsed:.0f} s for {len(run.cases)} files, {len(models)} models); gate {outcomes}")
    print("resident memory during the gate: " + ", ".join(f"{done} files {mb:.0f} MB" for done, mb in marks.items()))
    print(f"peak resident memory: {peak_mb():.0f} MB ({peak_mb() - baseline:+.0f} MB over the loaded baseline); "
          f"kept per file: {sum(c.image.nbytes for c in run.cases if c.image is not None) / len(run.cases):.0f} B of 28×28 + "
          f"{sum(c.thumbnail.nbytes for c in run.cases if c.thumbnail is not None) / len(run.cases):.0f} B of thumbnail")


if __name__ == "__main__":
    main()
