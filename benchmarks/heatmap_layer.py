"""What reading the heatmap at a finer layer costs: each test image's maps and gradients (one forward and one backward
pass, as a Predict reading) at the framing-robust ResNet-18's layer4.1 (what the app reads) and layer3.1, interleaved.

    python benchmarks/heatmap_layer.py [--repeats 20]
"""

import argparse
import statistics
import time

from core.assets import load_test_images
from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint
from core.explanations import maps_and_gradients
from core.inference import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    model, images = load_model(open_checkpoint(CHECKPOINTS_DIR / "resnet18_28_framing")), load_test_images()[0]
    times = {"backbone.layer4.1": [], "backbone.layer3.1": []}
    for index in range(args.repeats + 1):
        for layer, values in times.items():
            started = time.perf_counter()
            maps_and_gradients(model, images[index:index + 1], [1.0], [layer])
            if index:  # the first round warms up
                values.append(1000 * (time.perf_counter() - started))
    for layer, values in times.items():
        print(f"{layer}: median {statistics.median(values):.1f} ms, max {max(values):.1f} ms a reading")
    print(f"ratio of medians: {statistics.median(times['backbone.layer3.1']) / statistics.median(times['backbone.layer4.1']):.2f}")


if __name__ == "__main__":
    main()
