"""Training throughput and single-image inference latency of each model on this machine.

    python benchmarks/train_and_infer.py [--steps 10]

Training: the recipe's batch size, augmentation, channels_last and bf16 autocast where supported (as train.py).
Inference: one 28x28 image, fp32, eval mode, as the app does; committed weights when present.
"""

import argparse
import statistics
import time

import torch

from core.checkpoints import CHECKPOINTS_DIR, open_checkpoint, trained_models
from core.data import augment
from core.inference import gradcam, load_model
from core.models import new_model
from core.registry import spec
from core.training import bf16_supported, describe_device


def training_images_per_second(name: str, device: torch.device, steps: int) -> float:
    batch_size = spec(name).batch_size
    model = new_model(name).to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    images, labels = torch.rand(batch_size, 1, 28, 28, device=device), torch.rand(batch_size, 1, device=device).round()
    amp = bf16_supported(device)

    def step():
        batch = augment(images, generator).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(2):  # warm-up: allocator, oneDNN primitive caches
        step()
    _synchronise(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronise(device)
    return steps * batch_size / (time.perf_counter() - started)


def median_milliseconds(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per model")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device: {describe_device(device)}, torch {torch.__version__}, bf16 autocast in training: {bf16_supported(device)}")
    print(f"{'model':<10} {'train img/s':>12} {'infer ms/img':>13} {'grad-cam ms':>12}")
    for name, folder in trained_models(CHECKPOINTS_DIR).items():
        model = load_model(open_checkpoint(folder))
        image = torch.rand(1, 1, 28, 28)
        with torch.no_grad():
            infer = median_milliseconds(lambda: model(image), repeats=50)
        cam = median_milliseconds(lambda: gradcam(model, (image[0, 0] * 255).byte().numpy(), 1), repeats=20)
        throughput = training_images_per_second(name, device, args.steps)
        print(f"{name:<10} {throughput:>12.0f} {infer:>13.1f} {cam:>12.1f}")


if __name__ == "__main__":
    main()
