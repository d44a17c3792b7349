"""Dashboard latency on this machine: every page's rerun, a threshold-slider move, and an X-ray upload to every
model's reading, heatmap and framing check.

    python benchmarks/app_latency.py [--repeats 20]

Server side, through streamlit's AppTest (a whole-page rerun: an upper bound for a fragment's rerun), and the
upload path through core alone (decode, 28x28, each model's probability and Grad-CAM, overlays, framing check).
"""

import argparse
import io
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from ui import widgets
from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint, trained_models
from core.imaging import decode, display_image, overlay, to_dataset_image
from core.inference import load_model, read
from core.robustness import framing_check

REPO = Path(__file__).resolve().parent.parent

FIXTURE = REPO.parent / "shared" / "fixtures" / "cxr" / "kermany_NORMAL2-IM-1430-0001.jpeg"


def xray_jpeg(side: int = 2000) -> bytes:
    """A side x side 8-bit JPEG: a real X-ray enlarged when the fixture is at hand, else smooth noise."""
    if FIXTURE.exists():
        image = Image.open(FIXTURE).convert("L").resize((side, side), Image.Resampling.BICUBIC)
    else:
        noise = np.random.default_rng(0).integers(0, 255, (side // 50, side // 50), dtype=np.uint8)
        image = Image.fromarray(noise).resize((side, side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


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

    jpeg = xray_jpeg()
    models = {name: load_model(open_checkpoint(CHECKPOINTS_DIR / name)) for name in names}

    def upload_path(check: bool):
        original = decode(jpeg).grey
        small, shown = to_dataset_image(original), display_image(original)
        for name, model in models.items():
            overlay(shown, read(model, small, 0.5).heatmap, 0.45)
        if check:
            framing_check(models, original, {name: 0.5 for name in models})

    for check, what in ((False, "predictions + heatmaps"), (True, "predictions + heatmaps + framing check")):
        median, worst = timed(lambda: upload_path(check), args.repeats)
        print(f"2000x2000 JPEG ({len(jpeg) / 1e6:.1f} MB) to {len(models)} {what}, core only: median {median:.0f} ms, max {worst:.0f} ms")

    predict = open_page("pages/predict.py")
    median, worst = timed(lambda: predict.file_uploader(key="upload").set_value(("xray.jpeg", jpeg, "image/jpeg")).run(), args.repeats)
    print(f"same upload, Predict page rerun (server side, incl. image encoding): median {median:.0f} ms, max {worst:.0f} ms")


if __name__ == "__main__":
    main()
