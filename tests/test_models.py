from fnmatch import fnmatch

import numpy as np
import pytest
import torch

from core.models import CustomCNN, FramingAverage, ResNet18Classifier, count_trainable_parameters, load_imagenet_weights, new_model
from core.perturbations import FRAMING_CHECK
from core.registry import REGISTRY, UnknownModelError, spec


def test_custom_cnn_has_the_reports_615521_parameters():
    assert count_trainable_parameters(CustomCNN()) == 615_521


def test_custom_cnn_block_shapes_follow_table_2():
    model = CustomCNN().eval()
    x = torch.rand(2, 1, 28, 28)
    shapes = []
    for block in model.features:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(32, 14, 14), (64, 7, 7), (128, 3, 3)]
    assert model.classifier(x).shape == (2, 1)


def test_resnet18_head_and_input_handling():
    model = ResNet18Classifier().eval()
    assert count_trainable_parameters(model) == 11_689_512 - 512 * 1000 - 1000 + 512 + 1
    assert isinstance(model.backbone.fc[0], torch.nn.Dropout) and model.backbone.fc[1].out_features == 1
    with torch.no_grad():
        assert model(torch.rand(3, 1, 28, 28)).shape == (3, 1)


def test_frozen_backbone_trains_only_the_head_and_keeps_batchnorm_statistics():
    model = ResNet18Classifier()
    model.freeze_backbone(True)
    model.train()
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"backbone.fc.1.weight", "backbone.fc.1.bias"}
    assert not model.backbone.bn1.training and model.backbone.fc.training
    model.freeze_backbone(False)
    assert count_trainable_parameters(model) == count_trainable_parameters(ResNet18Classifier())
    assert model.backbone.bn1.training


def test_imagenet_weights_load_from_a_local_file(tmp_path):
    from torchvision.models import resnet18

    source = resnet18()
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(source.state_dict(), path)
    model = ResNet18Classifier()
    record = load_imagenet_weights(model, path)
    assert record["source"] == "local file" and len(record["sha256"]) == 64
    assert torch.equal(model.backbone.conv1.weight, source.conv1.weight)
    assert model.backbone.fc[1].out_features == 1  # the new head stays


def test_weights_file_whose_hash_does_not_match_its_name_is_refused(tmp_path):
    from torchvision.models import resnet18

    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(resnet18().state_dict(), path)
    with pytest.raises(RuntimeError, match="does not match"):
        load_imagenet_weights(ResNet18Classifier(), path)


@pytest.mark.parametrize("name", REGISTRY)
def test_every_registry_model_ends_its_feature_map_at_the_registry_cam_layer(name):
    """forward_features/forward_head split the forward pass exactly at spec.cam_layer (what Grad-CAM reads); for a seed
    ensemble, every member's layer, stacked along channels in member order; for a framing average, every framing's."""
    torch.manual_seed(0)
    model = new_model(name).eval()
    images = torch.rand(2, 1, 28, 28)
    layers = [module for path, module in model.named_modules() if fnmatch(path, spec(name).cam_layer)]
    seen = []
    handles = [layer.register_forward_hook(lambda module, inputs, output: seen.append(output.clone())) for layer in layers]
    with torch.no_grad():
        logits = model(images)
        maps = model.forward_features(images)
        assert torch.equal(model.forward_head(maps), logits) and logits.shape == (2, 1)
    for handle in handles:
        handle.remove()
    outputs = seen[:len(layers)]
    if isinstance(model, FramingAverage):  # one pass over the framings, batch-stacked: each framing's maps side by side
        outputs = outputs[0].chunk(len(FRAMING_CHECK), dim=0)
    assert len(layers) >= 1 and torch.equal(torch.cat(outputs, dim=1), maps)


def test_an_unknown_model_is_refused_not_given_another_recipe():
    with pytest.raises(UnknownModelError, match="unknown model 'vgg16'; the registry knows cnn, resnet18, "):
        new_model("vgg16")


def test_a_framing_average_is_the_mean_logit_of_its_network_over_the_framing_checks_readings():
    from core.inference import predict_logits
    from core.robustness import framing_images

    torch.manual_seed(0)
    model = FramingAverage("CustomCNN").eval()
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    expected = torch.stack([predict_logits(model.base, framing_images(image)).mean() for image in images])
    assert torch.allclose(predict_logits(model, images), expected, atol=1e-5)
    assert count_trainable_parameters(model) == 615_521  # the framings add no parameters
