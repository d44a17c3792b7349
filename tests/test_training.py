import dataclasses

import pytest
import torch

import train
from core.cards import ClassCounts
from core.checkpoints import open_checkpoint
from core.data import load_dataset
from core.inference import load_model, predictions_frame
from core.models import CustomCNN
from core.registry import Stage
from core.recipe import TrainConfig
from core.training import fit, positive_class_weight


def test_positive_class_weight_follows_equation_4():
    assert positive_class_weight(1214, 3494, 0.5) == pytest.approx(0.1737, abs=1e-4)  # the real training counts
    assert positive_class_weight(1583, 3125, 1.0) == pytest.approx(0.506, abs=1e-3)  # the report's counts, its printed value


def _config(epochs: int) -> TrainConfig:
    return TrainConfig(stages=(Stage("train", epochs, 1e-3),), batch_size=16, seed=0)


def test_resumed_training_ends_exactly_where_an_uninterrupted_run_does(synthetic_root, tmp_path):
    splits = load_dataset(synthetic_root).splits
    device = torch.device("cpu")
    torch.manual_seed(0)
    straight = fit(CustomCNN(), splits["train"], splits["val"], _config(2), device, log=lambda _: None)

    resume = tmp_path / "resume.pt"
    torch.manual_seed(0)
    fit(CustomCNN(), splits["train"], splits["val"], _config(1), device, resume_path=resume, log=lambda _: None)  # "interrupted"
    lines = []
    resumed = fit(CustomCNN(), splits["train"], splits["val"], _config(2), device, resume_path=resume, log=lines.append)
    assert lines[0] == "resuming after epoch 1" and len(lines) == 2
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in straight.history]
    assert all(torch.equal(resumed.best_state[k], straight.best_state[k]) for k in straight.best_state)


def test_one_epoch_run_writes_a_checkpoint_that_loads_and_reproduces(synthetic_root, tmp_path, capsys):
    out = tmp_path / "cnn"
    train.main(["train", "--model", "cnn", "--data-root", str(synthetic_root), "--epochs", "1", "--out", str(out), "--amp", "off"])
    assert "epoch  1/1" in capsys.readouterr().out
    checkpoint = open_checkpoint(out)
    card = checkpoint.card
    assert card.trainable_parameters == 615_521 and card.file_size_bytes == (out / "model.safetensors").stat().st_size
    assert card.data.class_counts["train"] == ClassCounts(normal=16, pneumonia=32)
    assert len(card.training.history) == 1 and card.training.best_epoch == 1
    assert set(card.metrics.thresholds) >= {"default", "report_rule", "youden", "sensitivity_95"}
    assert card.loss.pos_weight == pytest.approx(0.5 * 16 / 32)
    assert not (out / "resume.pt").exists()

    committed = checkpoint.predictions
    assert list(committed["split"].value_counts().sort_index()) == [24, 24]
    splits = load_dataset(synthetic_root).splits
    recomputed = predictions_frame(load_model(checkpoint), {split: splits[split] for split in ("val", "test")})
    assert (recomputed["probability"] - committed["probability"]).abs().max() < 1e-6
    train.main(["evaluate", "--model", "cnn", "--data-root", str(synthetic_root), "--out", str(out)])
    assert "match:" in capsys.readouterr().out


def test_resnet18_trains_both_stages_from_random_init_and_records_it(synthetic_root, tmp_path):
    out = tmp_path / "resnet18"
    train.main(["train", "--model", "resnet18", "--data-root", str(synthetic_root), "--epochs", "1", "1",
                "--subset", "3", "--pretrained", "none", "--out", str(out)])
    card = open_checkpoint(out).card
    assert card.initialisation.imagenet is False
    assert [s.name for s in card.config.stages] == ["all_layers", "fine_tune"]
    assert any("random initialisation" in note for note in card.departures_from_report)
    assert [h.stage for h in card.training.history] == ["all_layers", "fine_tune"]


def test_missing_data_stops_with_one_clear_sentence(tmp_path, monkeypatch):
    import medmnist

    monkeypatch.setattr(medmnist.PneumoniaMNIST, "download", lambda self: (_ for _ in ()).throw(RuntimeError("offline")))
    with pytest.raises(SystemExit) as stop:
        train.main(["train", "--model", "cnn", "--data-root", str(tmp_path / "empty"), "--out", str(tmp_path / "x")])
    assert str(stop.value).startswith("error: PneumoniaMNIST is not at") and "offline" in str(stop.value)


def test_options_not_in_the_config_are_refused():
    from core.registry import spec

    with pytest.raises(ValueError, match=r"unknown training option\(s\) \['shedule'\]"):
        TrainConfig.for_model(spec("cnn"), shedule="cosine")


def test_cosine_schedule_decays_within_the_stage_and_ema_keeps_the_averaged_weights(synthetic_root):
    splits = load_dataset(synthetic_root).splits
    config = TrainConfig(stages=(Stage("train", 2, 1e-3),), batch_size=16, schedule="cosine", ema_decay=0.5, select_metric="last")
    torch.manual_seed(0)
    model = CustomCNN()
    result = fit(model, splits["train"], splits["val"], config, torch.device("cpu"), log=lambda _: None)
    assert [h.lr for h in result.history] == pytest.approx([1e-3, 0.5e-3])  # cos(pi/2) half-way, per step
    assert result.best_epoch == 2
    assert any(not torch.equal(result.best_state[k], v) for k, v in model.state_dict().items() if v.is_floating_point())


def test_balanced_sampling_draws_both_classes_equally_and_unweights_the_loss(synthetic_root):
    from core.training import _batches

    train = load_dataset(synthetic_root).splits["train"]  # 16 normal, 32 pneumonia
    config = TrainConfig(stages=(Stage("train", 1, 1e-3),), batch_size=48, balanced_sampling=True)
    drawn = torch.cat([torch.cat(_batches(train, config, torch.Generator().manual_seed(s))) for s in range(50)])
    assert 0.45 < float(train.labels[drawn].mean()) < 0.55
    result = fit(CustomCNN(), train, train, config, torch.device("cpu"), log=lambda _: None)
    assert result.pos_weight == 0.5  # the weight factor alone: the batches already see 1:1


def test_a_seed_ensemble_member_is_exactly_the_single_run_with_that_seed(synthetic_root, tmp_path):
    from core.models import SeedEnsemble
    from core.registry import spec

    splits = load_dataset(synthetic_root).splits
    config = TrainConfig.for_model(spec("cnn"), stages=(Stage("train", 1, 1e-3),), batch_size=16, seed=3)
    ensemble = SeedEnsemble("CustomCNN", 2)
    result, best_epochs = train.fit_model(ensemble, splits["train"], splits["val"], config, torch.device("cpu"), tmp_path)
    torch.manual_seed(4)
    single = fit(CustomCNN(), splits["train"], splits["val"], dataclasses.replace(config, seed=4), torch.device("cpu"), log=lambda _: None)
    assert all(torch.equal(ensemble.members[1].state_dict()[k], v) for k, v in single.best_state.items())
    assert len(best_epochs) == 2 and [h.member for h in result.history] == [0, 1]


def test_a_model_assembled_from_its_blind_runs_predicts_as_they_did_and_a_run_of_another_recipe_is_refused(synthetic_root, tmp_path,
                                                                                                         monkeypatch):
    import core.registry

    one_epoch = dataclasses.replace(core.registry.REGISTRY["cnn"], stages=(Stage("train", 1, 1e-3),))  # the recipe, shortened
    monkeypatch.setattr(core.registry, "REGISTRY", core.registry.REGISTRY | {"cnn": one_epoch})
    run, other = tmp_path / "runs" / "cnn-seed0", tmp_path / "runs" / "cnn-noflip"
    common = ["--model", "cnn", "--data-root", str(synthetic_root), "--amp", "off", "--blind"]
    train.main(["train", *common, "--out", str(run)])
    train.main(["train", *common, "--out", str(other), "--no-flip"])
    out = tmp_path / "cnn"
    train.main(["assemble", "--model", "cnn", "--data-root", str(synthetic_root), "--runs", str(run), "--out", str(out)])
    assembled, blind = open_checkpoint(out), open_checkpoint(run)
    assert set(assembled.predictions["split"]) == {"val", "test"} and assembled.card.metrics.test is not None
    val = assembled.predictions[assembled.predictions["split"] == "val"].reset_index(drop=True)
    assert (val["probability"] - blind.predictions["probability"]).abs().max() < 1e-6
    assert assembled.card.training.history == blind.card.training.history and assembled.card.config == blind.card.config
    with pytest.raises(SystemExit, match="differs from Custom CNN's member 0 in its recipe"):
        train.main(["assemble", "--model", "cnn", "--data-root", str(synthetic_root), "--runs", str(other), "--out", str(tmp_path / "x")])


def test_a_warm_start_begins_from_the_committed_weights_and_the_card_says_which():
    from core.checkpoints import CHECKPOINTS_DIR
    from core.models import new_model
    from core.registry import spec

    name = "resnet18_28_aspect"
    source = open_checkpoint(CHECKPOINTS_DIR / spec(name).warm_start)
    model = new_model(name)
    record = train.initialise(model, name, args=None)
    expected = load_model(source).state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in model.state_dict().items())
    assert spec(name).warm_start in record.source and record.sha256 == source.card.weights_sha256 and not record.imagenet
