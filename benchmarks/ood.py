"""Out-of-distribution detectors, measured: fitted on the training split, threshold keeping 99% of validation.

    python -m benchmarks.ood            # from the repository root; needs the dataset (--data-root or $PNEUMONIA_DATA_ROOT)

For each candidate: the share of test images flagged (false alarms: test is in distribution), of the 300 children
in ../shared/fixtures/resized-224 (squeezed to a square by another pipeline) flagged, of the 23 adult NIH X-rays
in ../shared/fixtures/adult-cxr flagged, and of junk images flagged. The pixel-space candidates read the 28×28 the
models see; the chosen detector (core.ood) also reads the full-resolution file widened back. Then the whole upload
gate (core/gate.py) on the same files, as uploads, its cost per upload, and the share of test images it flags
under each perturbation of the suite.
"""

import argparse
import time

import numpy as np
import torch
from sklearn.covariance import LedoitWolf

from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint
from core.data import load_dataset
from core.gate import ACCEPTED, check
from core.imaging import decode, to_dataset_image
from core.inference import image_batch, load_model
from core.ood import KEEP, Neighbourhood, readings
from core.perturbations import SUITE
from tests.conftest import FIXTURES
from tests.uploads import encoded, text_page, xray

ADULTS = sorted((FIXTURES.parent / "adult-cxr").glob("*.png"))
RESIZED = sorted((FIXTURES.parent / "resized-224").glob("*/*.jp*g"))


def junk_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {
        "near-white": encoded(np.full((400, 400), 250, np.uint8)), "black": encoded(np.zeros((400, 400), np.uint8)),
        "noise": encoded(rng.integers(0, 255, (400, 400), dtype=np.uint8)),
        "gradient": encoded(np.tile(np.linspace(0, 255, 400).astype(np.uint8), (400, 1))),
        "colour photo": encoded(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), "JPEG"),
        "scanned page": text_page(), "inverted X-ray": encoded(255 - xray(13)), "inverted X-ray 2": encoded(255 - xray(40)),
        "chessboard": encoded(np.kron((np.indices((8, 8)).sum(0) % 2 * 255).astype(np.uint8), np.ones((50, 50), np.uint8))),
        "strip": encoded(np.tile(xray(12, 200)[60:160], (1, 5))),
    }


def candidates(train: np.ndarray, val: np.ndarray) -> dict:
    """name -> score(images uint8 (N, 28, 28)) -> (N,), larger is further from the training images."""
    flat = lambda images: np.asarray(images, np.float32).reshape(len(images), -1) / 255  # noqa: E731
    reference, mean = flat(train), flat(train).mean(0)
    _, singular, components = np.linalg.svd(reference - mean, full_matrices=False)

    def knn28(images, k=5):
        x = flat(images)
        squared = (x ** 2).sum(1)[:, None] - 2 * x @ reference.T + (reference ** 2).sum(1)[None]
        return np.sqrt(np.maximum(np.partition(squared, k, axis=1)[:, :k], 0)).mean(1)

    def pca_error(images, k=10):
        centred = flat(images) - mean
        return np.linalg.norm(centred - centred @ components[:k].T @ components[:k], axis=1)

    def pca_mahalanobis(images, k=30):
        return np.sqrt((((flat(images) - mean) @ components[:k].T) ** 2 / (singular[:k] ** 2 / len(reference))).sum(1))

    shrunk = LedoitWolf().fit(reference)

    def ledoit_wolf(images):
        return np.sqrt(shrunk.mahalanobis(flat(images)))

    cnn = load_model(open_checkpoint(CHECKPOINTS_DIR / "cnn"))
    penultimate = lambda images: cnn.classifier[:-1](cnn.features((image_batch(images) - 0.5) / 0.5)).numpy()  # noqa: E731
    with torch.no_grad():
        features = penultimate(train)

    def cnn_features(images, k=5):
        with torch.no_grad():
            x = penultimate(images)
        squared = (x ** 2).sum(1)[:, None] - 2 * x @ features.T + (features ** 2).sum(1)[None]
        return np.sqrt(np.maximum(np.partition(squared, k, axis=1)[:, :k], 0)).mean(1)

    as_it_is = Neighbourhood.fit(train, val)
    return {"5 neighbours, 14×14 pixels (until issue 20)": as_it_is.scores, "5 neighbours, 28×28 pixels": knn28,
            "PCA-10 reconstruction error": pca_error, "PCA-30 Mahalanobis": pca_mahalanobis,
            "Ledoit-Wolf Mahalanobis (784 px)": ledoit_wolf, "5 neighbours, CNN penultimate features": cnn_features}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root")
    args = parser.parse_args()
    splits = load_dataset(args.data_root).splits
    train, val, test = (splits[name].images[:, 0].numpy() for name in ("train", "val", "test"))
    resized = {str(path.relative_to(path.parent.parent)): path.read_bytes() for path in RESIZED}
    adults = {path.name: path.read_bytes() for path in ADULTS}
    junk = junk_files()
    greys = {group: [decode(data).grey for data in files.values()] for group, files in (("resized", resized), ("adults", adults), ("junk", junk))}
    model_input = {group: np.stack([to_dataset_image(grey) for grey in images]) for group, images in greys.items()}

    print(f"threshold: the {KEEP:.0%} quantile of validation scores; {len(test)} test images, {len(resized)} squeezed "
          f"children, {len(adults)} adult X-rays, {len(junk)} junk images")
    print(f"{'detector':58s} {'test flagged':>13s} {'squeezed flagged':>17s} {'adults flagged':>15s} {'junk flagged':>13s}")
    for name, score in candidates(train, val).items():
        threshold = np.quantile(score(val), KEEP, method="higher")
        rates = [np.mean(score(images) > threshold) for images in (test, model_input["resized"], model_input["adults"], model_input["junk"])]
        print(f"{name:58s} {rates[0]:12.1%} {rates[1]:16.1%} {rates[2]:14.0%} {rates[3]:12.0%}")
    chosen = Neighbourhood.fit(train, val)
    assessed = {group: [chosen.assess(readings(grey)) for grey in images] for group, images in greys.items()}
    test_layout, test_levels = chosen.assess_images(test)
    for name, flagged in (("least over widened readings", lambda a: chosen.is_far(a.distance)),
                          ("widened, or grey-level percentiles (chosen)", lambda a: chosen.is_far(a.distance) | chosen.levels_unusual(a.levels_distance))):
        test_rate = np.mean(chosen.is_far(test_layout) | ("grey" in name and chosen.levels_unusual(test_levels)))
        rates = [np.mean([flagged(a) for a in assessed[group]]) for group in ("resized", "adults", "junk")]
        print(f"{'5 neighbours, 14×14 pixels, ' + name:58s} {test_rate:12.1%} {rates[0]:16.1%} {rates[1]:14.0%} {rates[2]:12.0%}")

    neighbourhood = Neighbourhood.load()
    print("\nThe whole upload gate (refuse or flag), as uploads:")
    for group, files in (("squeezed children", resized), ("adult X-rays", adults), ("junk", junk)):
        started = time.perf_counter()
        outcomes = {name: check(decoded := decode(data), to_dataset_image(decoded.grey), neighbourhood).outcome for name, data in files.items()}
        milliseconds = (time.perf_counter() - started) / len(files) * 1000
        caught = [name for name, outcome in outcomes.items() if outcome != ACCEPTED]
        print(f"  {group}: {len(caught)} of {len(files)} ({len(caught) / len(files):.1%}) refused or flagged, {milliseconds:.1f} ms each "
              "to decode and check" + (f"; accepted: {', '.join(sorted(set(files) - set(caught)))}" if group != "squeezed children" and len(caught) < len(files) else ""))
    for group, data in (("1024×1024 adult PNG", next(iter(adults.values()))), ("224×224 JPEG", next(iter(resized.values())))):
        decoded = decode(data)
        image = to_dataset_image(decoded.grey)
        started = time.perf_counter()
        for _ in range(20):
            check(decoded, image, neighbourhood)
        print(f"  the gate's checks on a decoded {group}: {(time.perf_counter() - started) / 20 * 1000:.1f} ms")
    print(f"  test images (28×28) flagged: {neighbourhood.false_alarm_rate(test):.1%}")
    print("  test images flagged under each perturbation of the suite (28×28): " + ", ".join(
        f"{p.name} {np.mean(neighbourhood.flags(np.stack([p.apply(image) for image in test]))):.1%}" for p in SUITE))


if __name__ == "__main__":
    main()
