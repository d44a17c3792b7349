"""Can the heatmap be trusted? Sanity checks and faithfulness of each model's heatmap, measured on validation images.

- The CAM method family (Grad-CAM, HiResCAM, Grad-CAM++, XGradCAM, LayerCAM, EigenCAM) as pure functions of feature
  maps and their gradients, scaled exactly as the grad-cam library scales them (tested against its classes).
- Model-parameter randomisation (Adebayo et al. 2018), cascading and independent from the head down, on the networks
  that make the map (every member of a seed ensemble, the base of a framing average), against the random-pair
  baseline (Arun et al. 2021): Spearman |ρ| between maps of two different images.
- ROAD (Rong et al. 2022) through the grad-cam library, beside a random map and a Sobel edge map; repeatability
  across an ensemble's members and between models; resemblance to image edges.

The analysis runs offline (train.py explanations), with hooks on a private copy of the model; the app reads the
record it writes beside the checkpoint (explanations.json, tied to the card by the weights' sha256), without torch.
"""

import copy
import json
import warnings
from dataclasses import dataclass

import numpy as np
from pytorch_grad_cam.utils.image import scale_cam_image
from scipy import ndimage
from scipy.stats import rankdata

from core.io import atomic_write_bytes

RECORD_FILE = "explanations.json"
RECORD_SCHEMA = 1
ROAD_PERCENTILES = (20, 40, 60, 80)
SEEDS = (0, 1, 2, 3, 4)
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 2000, 0
EXAMPLES = 3
METHOD_LABELS = {"gradcam": "Grad-CAM", "hirescam": "HiResCAM", "gradcam++": "Grad-CAM++", "xgradcam": "XGradCAM",
                 "layercam": "LayerCAM", "eigencam": "EigenCAM"}
REFERENCE = "gradcam"  # what the app has shown, and what stays unless the rule in docs/heatmap-method.md says otherwise
# Parametrised modules of each network, from the head down: one depth of randomisation each.
DEPTHS = {
    "CustomCNN": (("Output layer", ("classifier.7",)), ("Hidden layer 2", ("classifier.4",)), ("Hidden layer 1", ("classifier.1",)),
                  ("Conv block 3", ("features.2",)), ("Conv block 2", ("features.1",)), ("Conv block 1", ("features.0",))),
    "ResNet18Classifier": (("Output layer", ("backbone.fc",)), ("Stage 4", ("backbone.layer4",)), ("Stage 3", ("backbone.layer3",)),
                           ("Stage 2", ("backbone.layer2",)), ("Stage 1", ("backbone.layer1",)), ("Stem", ("backbone.conv1", "backbone.bn1"))),
}


def _weighted(weights: np.ndarray, maps: np.ndarray) -> np.ndarray:
    return (weights[:, :, None, None] * maps).sum(axis=1)


def _gradcam_plusplus_weights(maps: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    squared = gradients ** 2
    alpha = squared / (2 * squared + maps.sum(axis=(2, 3), keepdims=True) * squared * gradients + 1e-6)
    return (np.maximum(gradients, 0) * np.where(gradients != 0, alpha, 0)).sum(axis=(2, 3))


def _first_component(maps: np.ndarray) -> np.ndarray:
    """Each image's feature maps projected on their first principal component over positions (EigenCAM)."""
    out = []
    for image_maps in maps:
        positions = image_maps.reshape(image_maps.shape[0], -1).T
        positions = positions - positions.mean(axis=0)
        # only the first right singular vector is needed: the thin SVD (an ensemble or framing average stacks thousands of channels)
        out.append((positions @ np.linalg.svd(positions, full_matrices=False)[2][0]).reshape(image_maps.shape[1:]))
    return np.float32(out)


# method -> raw class activation map (N, h, w) from feature maps and gradients (N, C, h, w)
RAW_CAMS = {
    "gradcam": lambda maps, gradients: _weighted(gradients.mean(axis=(2, 3)), maps),
    "hirescam": lambda maps, gradients: (gradients * maps).sum(axis=1),
    "gradcam++": lambda maps, gradients: _weighted(_gradcam_plusplus_weights(maps, gradients), maps),
    "xgradcam": lambda maps, gradients: _weighted((gradients * maps / (maps.sum(axis=(2, 3), keepdims=True) + 1e-7)).sum(axis=(2, 3)), maps),
    "layercam": lambda maps, gradients: (np.maximum(gradients, 0) * maps).sum(axis=1),
    "eigencam": lambda maps, gradients: _first_component(maps),
}


def cam(method: str, maps: np.ndarray, gradients: np.ndarray, size: tuple[int, int] = (28, 28)) -> np.ndarray:
    """The method's heatmaps (N, 28, 28) in [0, 1], scaled as the grad-cam library scales one layer's (twice)."""
    raw = np.maximum(RAW_CAMS[method](maps, gradients), 0)
    return scale_cam_image(np.maximum(scale_cam_image(raw, size), 0))


def candidate_key(method: str, layer: str) -> str:
    return f"{method}@{layer}"


def _networks(model) -> list:
    """The networks that make the map: each member of a seed ensemble, the base of a framing average, or the model."""
    from core.models import FramingAverage, SeedEnsemble

    inner = model.base if isinstance(model, FramingAverage) else model
    return list(inner.members) if isinstance(inner, SeedEnsemble) else [inner]


def cam_layers(model, layer: str) -> list:
    """The modules whose outputs, stacked along channels, are the feature map at a layer path of one network."""
    return [network.get_submodule(layer) for network in _networks(model)]


def maps_and_gradients(model, images, signs, layers: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Feature maps and gradients of sign × logit at each layer path (of every network that makes the map), stacked
    along channels as the model's forward_features stacks them. Hooks: offline, on a model no other thread uses."""
    import torch

    from core.inference import image_batch

    batch = image_batch(images)
    captured = {layer: [] for layer in layers}

    def keep(layer):
        def hook(module, inputs, output):
            if not output.requires_grad:  # a leaf to differentiate against; later layers stay in its graph
                output = output.detach().requires_grad_(True)
            captured[layer].append(output)
            return output
        return hook

    handles = [module.register_forward_hook(keep(layer)) for layer in layers for module in cam_layers(model, layer)]
    try:
        with torch.enable_grad():
            logits = model(batch)[:, 0]
            tensors = [t for layer in layers for t in captured[layer]]
            gradients = torch.autograd.grad((torch.as_tensor(signs, dtype=logits.dtype) * logits).sum(), tensors)
    finally:
        for handle in handles:
            handle.remove()
    n, results, position = len(batch), {}, 0
    for layer in layers:
        parts = []
        for tensor in captured[layer]:
            grad = gradients[position]
            position += 1
            copies = tensor.shape[0] // n  # a framing average runs its base on every framing of the batch at once
            parts.append([x.detach().reshape(copies, n, *x.shape[1:]).transpose(0, 1).reshape(n, -1, *x.shape[2:]).numpy()
                          for x in (tensor, grad)])
        results[layer] = (np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1))
    return results


def all_cams(model, images, signs, layers: list[str]) -> dict[str, np.ndarray]:
    """Every method's heatmaps at every layer: candidate key -> (N, 28, 28)."""
    return {candidate_key(method, layer): cam(method, maps, gradients)
            for layer, (maps, gradients) in maps_and_gradients(model, images, signs, layers).items() for method in RAW_CAMS}


def randomised(model, depths: tuple[str, ...], seed: int):
    """A copy of the model whose modules at the given depths (paths within each network that makes the map) are
    re-initialised as when constructed (weights, biases, BatchNorm statistics), from one seed."""
    import torch

    copied = copy.deepcopy(model)
    torch.manual_seed(seed)
    for network in _networks(copied):
        for path in depths:
            for module in network.get_submodule(path).modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    return copied


def network_depths(model) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return DEPTHS[type(_networks(model)[0]).__name__]


# ---------------------------------------------------------------- similarity, nulls and intervals (numpy only)

def is_blank(maps: np.ndarray) -> np.ndarray:
    """Maps with nothing in them (Grad-CAM's ReLU removed everything, or a non-finite result): (N,) bool."""
    flat = maps.reshape(len(maps), -1)
    return ~np.isfinite(flat).all(axis=1) | (np.nanmax(flat, axis=1) - np.nanmin(flat, axis=1) <= 0)


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman ρ between paired maps (N, H, W), image by image; nan where either map is blank."""
    ra = rankdata(a.reshape(len(a), -1), axis=1)
    rb = rankdata(b.reshape(len(b), -1), axis=1)
    ra, rb = ra - ra.mean(axis=1, keepdims=True), rb - rb.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(axis=1) / np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))
    return np.where(is_blank(a) | is_blank(b), np.nan, rho)


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Structural similarity (maps in [0, 1]) image by image; nan where either map is blank."""
    from skimage.metrics import structural_similarity

    values = np.array([structural_similarity(x, y, data_range=1.0) for x, y in zip(a, b)])
    return np.where(is_blank(a) | is_blank(b), np.nan, values)


def random_pair_baseline(maps: np.ndarray) -> np.ndarray:
    """|ρ| between the maps of every two different images (the similarity a map has by chance), per pair."""
    i, j = np.triu_indices(len(maps), k=1)
    return np.abs(spearman(maps[i], maps[j]))


def edge_maps(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of each 28×28 image, scaled to [0, 1]: a map that ignores the model."""
    pixels = np.asarray(images, np.float32).reshape(-1, 28, 28)
    magnitude = np.array([np.hypot(ndimage.sobel(image, axis=0), ndimage.sobel(image, axis=1)) for image in pixels])  # image by image
    return scale_cam_image(magnitude)


def random_maps(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, 28, 28), dtype=np.float32)


def mean_interval(values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """Mean of per-image values (nan ignored) with its 95% percentile bootstrap interval over images."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return {"mean": None, "ci95": [None, None], "n": 0}
    draws = values[np.random.default_rng(seed).integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"mean": float(values.mean()), "ci95": [float(low), float(high)], "n": int(len(values))}


def road(model, images, maps: np.ndarray, signs) -> np.ndarray:
    """ROAD (the grad-cam library's ROADCombined, percentiles 20-80) of each map on sign × logit, image by image, the
    imputation noise seeded per image so that any image's score can be recomputed alone."""
    import torch
    from pytorch_grad_cam.metrics.road import ROADCombined

    from core.inference import image_batch

    metric, batch, scores = ROADCombined(percentiles=list(ROAD_PERCENTILES)), image_batch(images), []
    for index, (image, heatmap, sign) in enumerate(zip(batch, maps, signs)):
        torch.manual_seed(index)
        target = (lambda s: lambda output: s * output[0])(float(sign))
        with torch.no_grad():
            scores.append(float(metric(image[None], np.float32(heatmap)[None], [target], model)[0]))
    return np.array(scores)


# ---------------------------------------------------------------- the record a checkpoint carries

def validation_sample(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of per_class normal then per_class pneumonia validation images, in a fixed random order (so a smaller
    sample is the start of a larger one)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([np.sort(rng.permutation(np.flatnonzero(labels == c))[:per_class]) for c in (0, 1)])


def _quantised(maps: np.ndarray) -> list:
    return np.round(np.nan_to_num(maps) * 255).astype(int).tolist()


def _similarity_summary(rho: np.ndarray, similarity: np.ndarray, blank: np.ndarray, baseline: float) -> dict:
    """rho, ssim, blank: (seeds, N). |ρ| averaged over seeds per image, then over images with an interval."""
    with warnings.catch_warnings():  # an image whose every randomised map is blank has no ρ: counted apart
        warnings.simplefilter("ignore", RuntimeWarning)
        per_image = np.nanmean(np.abs(rho), axis=0)
    summary = mean_interval(per_image)
    return {"abs_rho": summary["mean"], "abs_rho_ci95": summary["ci95"],
            "ssim": None if np.isnan(similarity).all() else float(np.nanmean(similarity)),
            "blank_share": float(blank.mean()),
            "passes": summary["mean"] is None or summary["mean"] < baseline}


def measure(model, images: np.ndarray, labels: np.ndarray, threshold: float, layers: list[str], seeds=SEEDS,
            progress=print) -> dict:
    """Every check for every candidate method and layer on these images; see docs/heatmap-method.md."""
    from core.inference import predict_logits, probabilities
    from core.metrics import is_positive

    decided = is_positive(probabilities(predict_logits(model, images)), threshold).astype(int)
    signs = np.where(decided == 1, 1.0, -1.0)
    captured = maps_and_gradients(model, images, signs, layers)
    trained = {candidate_key(method, layer): cam(method, maps, gradients)
               for layer, (maps, gradients) in captured.items() for method in RAW_CAMS}
    depths = network_depths(model)
    candidates = {}
    for key, maps in trained.items():
        method, layer = key.split("@")
        candidates[key] = {"method": method, "layer": layer, "grid": list(captured[layer][0].shape[2:]),
                           "baseline": mean_interval(random_pair_baseline(maps)) | {"blank_share": float(is_blank(maps).mean())},
                           "cascading": [], "independent": []}
    shown_rho = {"cascading": [], "independent": []}
    shown_examples = {"cascading": []}
    for mode in ("cascading", "independent"):
        for k, (label, _) in enumerate(depths):
            paths = tuple(p for _, group in (depths[:k + 1] if mode == "cascading" else depths[k:k + 1]) for p in group)
            per_seed = {key: ([], [], []) for key in trained}
            for seed in seeds:
                maps = all_cams(randomised(model, paths, seed), images, signs, layers)
                for key, randomised_maps in maps.items():
                    per_seed[key][0].append(spearman(trained[key], randomised_maps))
                    per_seed[key][1].append(ssim(trained[key], randomised_maps))
                    per_seed[key][2].append(is_blank(randomised_maps))
                if seed == seeds[0] and mode == "cascading":
                    shown_examples["cascading"].append(maps)
            for key, (rho, similarity, blank) in per_seed.items():
                entry = _similarity_summary(np.array(rho), np.array(similarity), np.array(blank),
                                            candidates[key]["baseline"]["mean"])
                candidates[key][mode].append({"depth": label} | entry)
                if key.startswith(REFERENCE + "@") and key.endswith(layers[0]):
                    shown_rho[mode].append(np.array(rho).tolist())
            progress(f"  randomisation {mode}, down to {label.lower()}: "
                     + ", ".join(f"{k} |ρ| {candidates[k][mode][-1]['abs_rho'] if candidates[k][mode][-1]['abs_rho'] is None else round(candidates[k][mode][-1]['abs_rho'], 3)}"
                                 for k in candidates if k.startswith(REFERENCE)))
    progress("  ROAD…")
    road_scores = {key: road(model, images, maps, signs) for key, maps in trained.items()}
    edges, noise = edge_maps(images), random_maps(len(images))
    nulls = {"random": road(model, images, noise, signs), "edges": road(model, images, edges, signs)}
    reference_key = candidate_key(REFERENCE, layers[0])
    for key, entry in candidates.items():
        entry["road"] = mean_interval(road_scores[key])
        entry["road_minus_reference"] = mean_interval(road_scores[key] - road_scores[reference_key])
        entry["edge_rho"] = mean_interval(spearman(trained[key], edges))
    record = {
        "candidates": candidates,
        "nulls": {name: mean_interval(scores) for name, scores in nulls.items()},
        "depths": [label for label, _ in depths],
        "seeds": list(seeds),
        "decided": decided.tolist(),
        "per_image": {"reference": reference_key, "road": road_scores[reference_key].tolist(),
                      "road_random": nulls["random"].tolist(), "road_edges": nulls["edges"].tolist(),
                      "edge_rho": spearman(trained[reference_key], edges).tolist(), "rho": shown_rho},
    }
    record["chosen"], record["why"] = choose(candidates, reference_key, record["nulls"]["random"])
    chosen = record["chosen"]
    examples = _example_indices(labels)
    record["examples"] = [{"position": int(i), "label": int(labels[i]), "decided": int(decided[i]),
                           "image": np.asarray(images[i]).astype(int).tolist(),
                           "trained": {key: _quantised(trained[key][i:i + 1])[0] for key in {chosen, reference_key}},
                           "cascading": {key: [_quantised(m[key][i:i + 1])[0] for m in shown_examples["cascading"]]
                                         for key in {chosen, reference_key}}}
                          for i in examples]
    record["members"] = member_repeatability(model, images, signs)
    record["_heatmaps"] = trained[chosen]  # for comparisons between models; not written
    return record


def _example_indices(labels: np.ndarray) -> list[int]:
    """A few children for the page: the first pneumonia and normal images of the sample, then the second pneumonia."""
    pneumonia, normal = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    return [int(pneumonia[0]), int(normal[0]), int(pneumonia[1])][:EXAMPLES]


def member_repeatability(model, images, signs) -> dict | None:
    """Mean Spearman ρ between the Grad-CAMs that an ensemble's members give alone (every pair of members)."""
    from core.inference import gradcam

    networks = _networks(model)
    if len(networks) < 2:
        return None
    targets = (np.asarray(signs) > 0).astype(int)
    maps = [gradcam(network, images, targets) for network in networks]
    rho = np.nanmean([spearman(maps[a], maps[b]) for a in range(len(maps)) for b in range(a + 1, len(maps))], axis=0)
    return mean_interval(rho)


def eligible(entry: dict, random_null: dict) -> bool:
    """ROAD interval above 0 and above the random map's, and randomisation passed with every layer re-initialised."""
    low = entry["road"]["ci95"][0]
    return low is not None and low > 0 and low > random_null["ci95"][1] and entry["cascading"][-1]["passes"]


def depths_passed(entry: dict) -> int:
    return sum(depth["passes"] for depth in entry["cascading"])


def choose(candidates: dict, reference: str, random_null: dict) -> tuple[str, str]:
    """The rule of docs/heatmap-method.md, within the latency budget: the candidate the app shows, and why. Another layer
    needs a backward pass through more of the network (benchmarks/heatmap_layer.py measured the
    framing-robust ResNet-18's reading 1.3 times as long), beyond the 20% the heatmap may add, so only the app's layer can be shown."""
    key, why = _by_rule(candidates, reference, random_null)
    layer = candidates[reference]["layer"]
    if candidates[key]["layer"] == layer:
        return key, why
    fallback, fallback_why = _by_rule({k: e for k, e in candidates.items() if e["layer"] == layer}, reference, random_null)
    return fallback, (f"{METHOD_LABELS[candidates[key]['method']]} at {candidates[key]['layer']} is more faithful beyond chance, but "
                      "reading that layer costs more than the 20% the heatmap may add to the Predict page. At the app's layer: "
                      + fallback_why)


def _by_rule(candidates: dict, reference: str, random_null: dict) -> tuple[str, str]:
    ok = {key: entry for key, entry in candidates.items() if eligible(entry, random_null)}
    base = candidates[reference]
    if reference in ok:
        better = [key for key, entry in ok.items() if key != reference and depths_passed(entry) >= depths_passed(base)
                  and entry["road_minus_reference"]["ci95"][0] is not None and entry["road_minus_reference"]["ci95"][0] > 0]
        if not better:
            return reference, "Grad-CAM passes both checks and no other method is both as robust to randomisation and more faithful beyond chance."
        key = max(better, key=lambda k: ok[k]["road"]["mean"])
        return key, (f"{METHOD_LABELS[ok[key]['method']]} at {ok[key]['layer']} passes randomisation at as many depths as Grad-CAM "
                     f"at {base['layer']} and its ROAD is higher beyond chance (paired bootstrap).")
    if ok:
        key = max(ok, key=lambda k: (depths_passed(ok[k]), ok[k]["road"]["mean"]))
        return key, (f"Grad-CAM fails a check; {METHOD_LABELS[ok[key]['method']]} passes both and is the most robust to "
                     "randomisation of those that do.")
    return reference, "No method passes both checks here; Grad-CAM is kept and should be read with that in mind."


def between_models(heatmaps: dict[str, np.ndarray]) -> dict[str, dict[str, dict]]:
    """Mean Spearman ρ between every two models' shown heatmaps of the same images: name -> other -> interval."""
    return {a: {b: mean_interval(spearman(heatmaps[a], heatmaps[b])) for b in heatmaps if b != a} for a in heatmaps}


# ---------------------------------------------------------------- reading and writing the record

class RecordError(ValueError):
    """An explanations record that does not belong to its checkpoint; one sentence."""


def write_record(folder, record: dict) -> None:
    record = {k: v for k, v in record.items() if not k.startswith("_")}
    atomic_write_bytes(folder / RECORD_FILE, (json.dumps(record, indent=1) + "\n").encode())


@dataclass(frozen=True)
class Verdict:
    """What a model's heatmap can be trusted for, from its record, in words."""

    short: str  # a few words, for the Predict page
    sentence: str  # one plain sentence for a clinician


def read_record(folder, card) -> dict | None:
    """The checkpoint's explanations record, checked to describe the card's weights and predictions; None if never made."""
    path = folder / RECORD_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise RecordError(f"{path.name} of the {card.name} checkpoint cannot be read; measure it again (train.py explanations).") from None
    if (record.get("schema"), record.get("model"), record.get("weights_sha256"), record.get("predictions_sha256")) != (
            RECORD_SCHEMA, card.name, card.weights_sha256, card.predictions_sha256):
        raise RecordError(f"{path.name} of the {card.name} checkpoint was made from other weights or predictions; "
                          "measure it again (train.py explanations).")
    return record


def verdict(record: dict) -> Verdict:
    """The shown method's randomisation and ROAD results, said plainly."""
    entry = record["candidates"][record["chosen"]]
    name = METHOD_LABELS[entry["method"]]
    random_null = record["nulls"]["random"]
    faithful = entry["road"]["ci95"][0] is not None and entry["road"]["ci95"][0] > max(0, random_null["ci95"][1])
    passed, total = depths_passed(entry), len(entry["cascading"])
    first_pass = next((d["depth"].lower() for d in entry["cascading"] if d["passes"]), None)
    if faithful and passed == total:
        short = "faithful and depends on the trained weights"
    elif faithful and entry["cascading"][-1]["passes"]:
        short = "faithful; survives re-initialising the top layers"
    elif faithful:
        short = "faithful, but survives randomisation"
    else:
        short = "not shown to be faithful"
    can = ("shows where the image held the evidence this model used: removing those pixels changes its score more than "
           "removing random ones" if faithful else "is not shown to mark the pixels this model relies on")
    depth_words = ("the map changes as soon as any layer is re-initialised" if passed == total else
                   f"the map changes only once the network is re-initialised from the output layer down to {first_pass}" if first_pass else
                   "the map survives re-initialising the whole network, so it says little about what the model learned")
    grid = f"{entry['grid'][0]}×{entry['grid'][1]}"
    sentence = (f"{name} {can}; {depth_words}. It is drawn from a {grid} grid, so it marks regions, not details, and it "
                "cannot tell you where pneumonia is: it was never checked against marked lesions or lung outlines.")
    return Verdict(short, sentence)
