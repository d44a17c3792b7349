"""Write the app's two dataset-derived assets, so that it runs without the dataset:

- assets/pneumoniamnist_test.npz: the 624 PneumoniaMNIST test images (28x28) and labels (case gallery, samples);
- assets/ood_reference.npz: the training images pooled to 14x14 and the validation images' distances to them,
  the reference of the upload gate's out-of-distribution check (core/ood.py).

    python scripts/build_assets.py [--data-root FOLDER]
"""

import argparse
import io

import numpy as np

from core.assets import OOD_REFERENCE, TEST_IMAGES
from core.data import DATA_FILE, DataNotFoundError, load_dataset
from core.io import atomic_write_bytes
from core.ood import Neighbourhood


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", help=f"folder holding {DATA_FILE}")
    args = parser.parse_args()
    try:
        dataset = load_dataset(args.data_root)
    except DataNotFoundError as error:
        raise SystemExit(f"error: {error}")
    test = dataset.splits["test"]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=test.images[:, 0].numpy(), labels=test.labels.numpy().astype(np.uint8),
                        source_sha256=np.array(dataset.sha256))
    atomic_write_bytes(TEST_IMAGES, buffer.getvalue())
    print(f"wrote {TEST_IMAGES} ({len(test)} images, {TEST_IMAGES.stat().st_size:,} bytes)")
    neighbourhood = Neighbourhood.fit(dataset.splits["train"].images[:, 0].numpy(), dataset.splits["val"].images[:, 0].numpy())
    neighbourhood.save()
    print(f"wrote {OOD_REFERENCE} (threshold {neighbourhood.threshold:.4f}, {OOD_REFERENCE.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
