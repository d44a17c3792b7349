"""Dashboard latency on this machine: every page's rerun, a threshold-slider move, and an X-ray upload to every
model's reading, heatmap and framing check.

    python benchmarks/app_latency.py [--repeats 20] [--baseline-ref f4d4207] [--rounds 3]

Server side, through streamlit's AppTest (a whole-page rerun: an upper bound for a fragment's rerun), and the
upload path through core alone (decode, 28x28, each model's probability and Grad-CAM, overlays, framing check).
With --baseline-ref, fresh 2000×2000 JPEG uploads to the Predict page are timed in that commit's tree (checked out
under /tmp) and in this one, round by round in turn (benchmarks/upload_rerun.py), so both see the same machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint, trained_models
from core.imaging import decode, display_image, overlay
from core.inference import load_model
from core.registry import spec
from core.serving import read_upload, serve, use_serving_threads
from ui import widgets
from upload_rerun import xray_jpegs  # benchmarks/upload_rerun.py: run this file as a script

REPO = Path(__file__).resolve().parent.parent

def timed(function, repeats: int) -> tuple[float, float]:
    """Median and max milliseconds of function() over repeats (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times), max(times)


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    app.run()
    return app.switch_page(page).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--baseline-ref", help="also time the Predict page's upload at this commit (e.g. f4d4207)")
    parser.add_argument("--rounds", type=int, default=3, help="turns each tree takes at the uploads")
    args = parser.parse_args()
    names = list(trained_models(CHECKPOINTS_DIR))

    for page in sorted((REPO / "pages").glob("*.py")):
        app = open_page(f"pages/{page.name}")
        median, worst = timed(app.run, args.repeats)
        print(f"{page.stem}, a rerun (server side): median {median:.0f} ms, max {worst:.0f} ms")

    explorer = open_page("pages/threshold_explorer.py")
    slider = widgets.slider_key("explorer", names[0])
    values = iter(np.linspace(0.05, 0.95, 10 * (args.repeats + 1)))
    median, worst = timed(lambda: explorer.slider(key=slider).set_value(float(next(values))).run(), args.repeats)
    print(f"explorer, slider move (whole-page rerun, server side): median {median:.0f} ms, max {worst:.0f} ms")

    jpeg = xray_jpegs(1)[0]
    use_serving_threads()
    models = {name: serve(load_model(open_checkpoint(CHECKPOINTS_DIR / name))) for name in names}
    recommended = frozenset(name for name in models if not spec(name).report_baseline)

    def upload_path(checked: frozenset):
        original = decode(jpeg).grey
        shown = display_image(original)
        for reading, _ in read_upload(models, original, {name: 0.5 for name in models}, checked).values():
            overlay(shown, reading.heatmap, 0.45)

    for checked, what in ((frozenset(), "predictions + heatmaps"), (recommended, "predictions + heatmaps + the app's framing check"),
                          (frozenset(models), "predictions + heatmaps + every model's framing check")):
        median, worst = timed(lambda: upload_path(checked), args.repeats)
        print(f"2000x2000 JPEG ({len(jpeg) / 1e6:.1f} MB) to {len(models)} {what}, core only: median {median:.0f} ms, max {worst:.0f} ms")

    trees = {"this tree": REPO}
    if args.baseline_ref:
        from baseline import checkout

        trees = {f"at {args.baseline_ref}": checkout(args.baseline_ref)} | trees
    times = {label: [] for label in trees}
    for _ in range(args.rounds):
        for label, root in trees.items():
            out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "upload_rerun.py"), "--uploads", str(args.repeats)], cwd=root,
                                 env=os.environ | {"PYTHONPATH": str(root)}, check=True, capture_output=True, text=True).stdout
            times[label] += json.loads(out.splitlines()[-1])
    for label, values in times.items():
        print(f"fresh 2000x2000 JPEG, Predict page rerun (server side, every reading, heatmap and default framing check), {label}: "
              f"median {statistics.median(values):.0f} ms, max {max(values):.0f} ms over {len(values)} uploads")
    if len(times) == 2:
        before, after = (statistics.median(values) for values in times.values())
        print(f"speed-up: {before / after:.1f}× (medians, same run)")


if __name__ == "__main__":
    main()
