"""What the heatmap's trust line costs the Predict page: its server-side rerun (a test image read by every model, with
heatmaps) with and without the link to "Can I trust the heatmap?" and each model's verdict, interleaved so that both
see the same load.

    python benchmarks/heatmap_link.py [--repeats 15]
"""

import argparse
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui import widgets

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    app = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=300)
    app.run()
    app.switch_page("pages/predict.py").run()
    app.radio(key="predict_source").set_value("Sample from the test split").run()
    with_link, without_link = widgets.heatmap_trust_link, lambda names: None
    times = {"with the link and verdicts": [], "without": []}
    for case in range(args.repeats + 1):
        for variant, (label, function) in enumerate((("with the link and verdicts", with_link), ("without", without_link))):
            widgets.heatmap_trust_link = function
            started = time.perf_counter()
            app.selectbox(key="predict_sample").set_value(2 * case + variant).run()  # a new image: every model reads it
            if case:  # the first round warms the caches
                times[label].append(1000 * (time.perf_counter() - started))
    widgets.heatmap_trust_link = with_link
    for label, values in times.items():
        print(f"Predict page, a new test image (server side), {label}: median {statistics.median(values):.0f} ms, "
              f"max {max(values):.0f} ms")
    ratio = statistics.median(times["with the link and verdicts"]) / statistics.median(times["without"])
    print(f"ratio of medians: {ratio:.3f}")


if __name__ == "__main__":
    main()
