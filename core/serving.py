"""The app's fast path: ONNX Runtime computes each network's feature maps (nearly all of a reading's cost), and the
committed torch model's own head turns them into the logit and the gradient Grad-CAM needs (core.inference).

The graph is exported from the checked safetensors weights when the app loads a model, so what runs is the committed
model; its probabilities and heatmaps equal torch's within 1e-5 (tested). One ServedModel per process is shared by
every session: InferenceSession.run is thread-safe, and the torch head is read-only (core.inference).
"""

import copy
import io
import os
import warnings
from dataclasses import dataclass

import numpy as np
import onnxruntime
import torch
from torch import nn

from core.inference import Reading, image_batch, read_maps
from core.models import FramingAverage
from core.perturbations import CLEAN, FRAMING_CHECK
from core.robustness import FramingCheck, framing_images

THREADS_ENV = "PNEUMONIA_INTRA_OP_THREADS"
DEFAULT_THREADS = 1  # per reading; sessions run side by side (benchmarks/load_test.py measured 1 against 2)


def intra_op_threads() -> int:
    """Threads one reading may use: $PNEUMONIA_INTRA_OP_THREADS, else DEFAULT_THREADS."""
    return max(1, int(os.environ.get(THREADS_ENV) or DEFAULT_THREADS))


def use_serving_threads() -> int:
    """Set torch's threads for the app's process (its heads and Grad-CAM) to intra_op_threads(); ONNX Runtime sessions
    take the same number when made. Many sessions read at once on few cores: with more threads than cores to spare,
    torch's workers wait on each other (a 5-CNN head went from 35 ms to 700 ms with 2 threads on a busy 2-core machine)."""
    threads = intra_op_threads()
    torch.set_num_threads(threads)
    return threads


class _Features(nn.Module):
    """A network's forward_features as a module of its own, for export."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network.forward_features(images)


def _session(network: nn.Module, threads: int) -> onnxruntime.InferenceSession:
    """network.forward_features as an ONNX Runtime session over any batch of (N, 1, 28, 28) images."""
    graph = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but kept in the pinned torch; it is 5× faster to
        warnings.simplefilter("ignore")  # export than the dynamo one and needs no onnxscript. Tracing fixes the 28-pixel input.
        # A copy in eval mode: the exporter switches a module's training mode and back, and the shared model is never touched.
        torch.onnx.export(_Features(copy.deepcopy(network)).eval(), torch.zeros(1, 1, 28, 28), graph, dynamo=False, input_names=["images"],
                          output_names=["maps"], dynamic_axes={"images": {0: "batch"}, "maps": {0: "batch"}})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle worker threads sleep instead of spinning: spinning burns the CPU that other sessions' readings need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(graph.getvalue(), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True, eq=False)
class ServedModel:
    """A committed model for the app: its torch model (head and reference) and a session for its feature maps."""

    model: nn.Module
    session: onnxruntime.InferenceSession  # the network whose maps Grad-CAM reads (a framing average's base network)

    @property
    def averages_framings(self) -> bool:
        return isinstance(self.model, FramingAverage)

    def feature_maps(self, images: np.ndarray) -> torch.Tensor:
        """(N, 28, 28) uint8 to the maps model.forward_head takes, as model.forward_features gives them."""
        batch = image_batch(images)
        if self.averages_framings:
            framed = self.model.framed(batch)
            return FramingAverage.stack_framings(torch.from_numpy(self.session.run(None, {"images": framed.numpy()})[0]), len(batch))
        return torch.from_numpy(self.session.run(None, {"images": batch.numpy()})[0])

    def logits(self, images: np.ndarray) -> np.ndarray:
        """fp32 logits (N,) of (N, 28, 28) uint8 images, computed as read() computes its logit (the maps here, the head
        in torch): for reading many files in batches."""
        with torch.no_grad():
            return self.model.forward_head(self.feature_maps(images))[:, 0].numpy()

    def read(self, image: np.ndarray, threshold: float) -> Reading:
        """core.inference.read, with the feature maps from ONNX Runtime."""
        return read_maps(self.model, self.feature_maps(image), threshold)[0]


def serve(model: nn.Module, threads: int | None = None) -> ServedModel:
    network = model.base if isinstance(model, FramingAverage) else model
    return ServedModel(model, _session(network, threads or intra_op_threads()))


def read_upload(served: dict[str, ServedModel], original: np.ndarray, image: np.ndarray, thresholds: dict[str, float],
                checked: frozenset[str]) -> dict[str, tuple[Reading, FramingCheck | None]]:
    """Every model's reading of an upload (original: as decoded; image: its 28×28 as the dataset frames it, from
    core.imaging.to_dataset_image) and, for the models in `checked`, its framing check, in one batch per model.

    The check reads the image at each framing of core.perturbations.FRAMING_CHECK. A framing average already reads
    exactly those framings (of the 28×28) to make its reading, so its check is those readings, at no extra cost.
    """
    assert FRAMING_CHECK[0] is CLEAN  # the check's first reading is the image itself
    reframed = any(name in checked and not served[name].averages_framings for name in served)
    framings = np.concatenate([image[None], framing_images(original, FRAMING_CHECK[1:])]) if reframed else None
    names = tuple(p.name for p in FRAMING_CHECK)
    results = {}
    for name, one in served.items():
        check = name in checked
        maps = one.feature_maps(framings if check and not one.averages_framings else image)
        reading, logits = read_maps(one.model, maps, thresholds[name])
        if check and one.averages_framings:
            logits = one.model.framing_logits(maps)[:, 0, 0].numpy()
        results[name] = (reading, FramingCheck(names, logits.astype(np.float64), thresholds[name]) if check else None)
    return results
