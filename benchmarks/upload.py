"""Memory and time per upload, for the worst files that fit under the limits (36 megapixels, 16 bits, 25 MB).

    python -m benchmarks.upload        # from the repository root (it reuses the tests' DICOM writer)

Each file is read in a fresh process, after a warm-up read of a small X-ray (so imports, models and the OOD
reference are already in memory): the peak resident memory added by decoding, gating and reading the file with
both models, and the time from bytes to both readings and heatmap overlays.
"""

import io
import json
import subprocess
import sys

import numpy as np
from PIL import Image

SIDE = 6000  # 36 megapixels, the limit
UPLOAD_LIMIT_MB = 25


def _blocks(side: int, dtype, high: int, seed: int = 0) -> np.ndarray:
    """60×60 random blocks: compresses to fit the upload limit at any bit depth (memory depends on pixels, not content)."""
    small = np.random.default_rng(seed).random((60, 60)) * high
    return np.kron(small.astype(dtype), np.ones((side // 60, side // 60), dtype))


def _encode(array: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def worst_files() -> dict[str, bytes]:
    from tests.uploads import dicom

    grey16 = _blocks(SIDE, np.uint16, 4095)
    grey8 = _blocks(SIDE, np.uint8, 255)
    rgba = np.dstack([grey8, grey8, grey8, np.pad(np.full((SIDE - 400, SIDE - 400), 255, np.uint8), 200)])
    files = {
        "16-bit PNG 7700x7700 (over 36 Mpx: refused)": _encode(np.zeros((7700, 7700), np.uint16), "PNG"),
        "16-bit PNG 6000x6000": _encode(grey16, "PNG"),
        "8-bit RGB PNG 6000x6000": _encode(np.dstack([grey8] * 3), "PNG"),
        "RGBA PNG 6000x6000, transparent border": _encode(rgba, "PNG"),
        "JPEG 6000x6000": _encode(grey8, "JPEG", quality=90),
        "16-bit TIFF (LZW) 6000x6000": _encode(grey16, "TIFF", compression="tiff_lzw"),
        "12-bit DICOM, RLE, 6000x6000": dicom(grey16, bits_stored=12, compressed=True),
        "12-bit DICOM, uncompressed, 3500x3500": dicom(grey16[:3500, :3500], bits_stored=12),
    }
    for name, data in files.items():
        if len(data) > UPLOAD_LIMIT_MB * 1e6:
            print(f"{name}: {len(data) / 1e6:.0f} MB, over the {UPLOAD_LIMIT_MB} MB upload limit: not measured")
    return {name: data for name, data in files.items() if len(data) <= UPLOAD_LIMIT_MB * 1e6}


MEASURE = """
import sys, time
import numpy as np
from core.checkpoints import open_checkpoint, trained_models
from core.gate import check
from core.imaging import ImageDecodeError, decode, display_image, overlay, to_dataset_image
from core.inference import load_model, read
from core.ood import Neighbourhood
from tests.uploads import encoded, xray

models = [load_model(open_checkpoint(folder)) for folder in trained_models().values()]
neighbourhood = Neighbourhood.load()

def upload_to_result(data):
    try:
        decoded = decode(data)
    except ImageDecodeError:
        return [], None
    image = to_dataset_image(decoded.grey)
    verdict = check(decoded, image, neighbourhood)
    if verdict.outcome == "refused":
        return [], verdict
    shown = display_image(decoded.grey)
    return [overlay(shown, read(model, image, 0.5).heatmap, 0.45) for model in models], verdict

def resident_mb(field):
    line = next(line for line in open("/proc/self/status") if line.startswith(field))
    return int(line.split()[1]) / 1024

upload_to_result(encoded(xray(0)))
data = sys.stdin.buffer.read()
with open("/proc/self/clear_refs", "w") as reset:  # restart the peak (VmHWM) from the current resident size
    reset.write("5")
before = resident_mb("VmRSS")
started = time.perf_counter()
_, verdict = upload_to_result(data)
seconds = time.perf_counter() - started
print(json.dumps({"mb": resident_mb("VmHWM") - before, "seconds": seconds, "outcome": verdict.outcome if verdict else "decode refused"}))
"""


def main() -> None:
    print(f"{'file':42s} {'size':>8s} {'peak memory added':>18s} {'upload to result':>17s}  gate")
    for name, data in worst_files().items():
        result = subprocess.run([sys.executable, "-c", "import json\n" + MEASURE], input=data, capture_output=True, check=True)
        measured = json.loads(result.stdout.decode().strip().splitlines()[-1])
        print(f"{name:42s} {len(data) / 1e6:6.1f}MB {measured['mb']:15.0f} MB {measured['seconds']:15.2f} s  {measured['outcome']}")


if __name__ == "__main__":
    main()
