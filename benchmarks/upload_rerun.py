"""Server-side milliseconds of the Predict page reading fresh 2000×2000 JPEG uploads (every model's reading, heatmap and
default framing check, through AppTest), for one tree of this project: the one it is run in, or an earlier checkout.

    python benchmarks/upload_rerun.py [--uploads 10]       (prints one JSON list of milliseconds)

Imports nothing of the project itself, so benchmarks/app_latency.py runs it in an earlier tree for a before/after.
"""

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance
from streamlit.testing.v1 import AppTest

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "cxr" / "kermany_NORMAL2-IM-1430-0001.jpeg"


def xray_jpegs(count: int, side: int = 2000) -> list[bytes]:
    """Different side × side 8-bit JPEGs (a real X-ray enlarged, each a little brighter than the last; smooth noise
    without the fixture), so that no reading can come from a session's memo."""
    if FIXTURE.exists():
        base = Image.open(FIXTURE).convert("L").resize((side, side), Image.Resampling.BICUBIC)
    else:
        noise = np.random.default_rng(0).integers(0, 255, (side // 50, side // 50), dtype=np.uint8)
        base = Image.fromarray(noise).resize((side, side), Image.Resampling.BICUBIC)
    jpegs = []
    for k in range(count):
        buffer = io.BytesIO()
        ImageEnhance.Brightness(base).enhance(1 + 0.01 * k).save(buffer, format="JPEG", quality=92)
        jpegs.append(buffer.getvalue())
    return jpegs


def upload_milliseconds(uploads: int) -> list[float]:
    """Open the Predict page, upload one warm-up X-ray (models load), then time each fresh upload's rerun."""
    app = AppTest.from_file(str(Path.cwd() / "streamlit_app.py"), default_timeout=300)
    app.run()
    app = app.switch_page("pages/predict.py").run()
    times = []
    for k, data in enumerate(xray_jpegs(uploads + 1)):
        started = time.perf_counter()
        app.file_uploader(key="upload").set_value((f"xray-{k}.jpeg", data, "image/jpeg")).run()
        assert not app.exception, app.exception
        times.append(1000 * (time.perf_counter() - started))
    return times[1:]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=10)
    print(json.dumps(upload_milliseconds(parser.parse_args().uploads)))
