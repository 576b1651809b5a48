"""`vb train` for VBNet: learning, resuming exactly, exporting a model that predicts, clear early errors."""

import json

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from vb_plugins.cli import main
from vb_plugins.errors import CancelledError, InputError
from vb_plugins.training.config import load_config
from vb_plugins.training.vbnet_trainer import train_vbnet

TINY = {"channels": [8, 16], "cond_dim": 16, "text_vocab": 64, "resolution": 32, "multiple": 2}


def config(tmp_path, **overrides):
    settings = {
        "output_dir": str(tmp_path / "run"),
        "tasks": ["depth", "normals"],
        "data": [{"type": "synthetic", "size": 32, "scenes": 4, "cache_dir": str(tmp_path / "cache")}],
        "steps": 6, "batch_size": 4, "checkpoint_every": 3, "log_every": 1, "warmup_steps": 2,
        "learning_rate": 0.003, "vbnet": TINY, "threads": 1,
    }
    settings.update(overrides)
    path = tmp_path / "train.json"
    path.write_text(json.dumps(settings))
    return path


def test_loss_decreases_on_a_small_set(tmp_path):
    exported = train_vbnet(load_config(config(tmp_path, steps=40, checkpoint_every=40)), progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert len(losses) == 40
    assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:8])
    assert (exported / "model.safetensors").is_file() and (exported / "vb_model.json").is_file()


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    straight = tmp_path / "straight"
    straight.mkdir()
    train_vbnet(load_config(config(straight)), progress=False)

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    path = config(resumed)
    with pytest.raises(CancelledError, match="step 4"):  # interrupted after step 4, checkpoint at 3
        train_vbnet(load_config(path), progress=False, should_stop=lambda step: step == 4)
    assert sorted(p.name for p in (resumed / "run" / "checkpoints").iterdir()) == ["step-000003"]
    messages = []
    train_vbnet(load_config(path), progress=False, log=messages.append)
    assert any("resuming" in m and "step 3" in m for m in messages)

    a = load_file(str(straight / "run" / "model" / "model.safetensors"))
    b = load_file(str(resumed / "run" / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_exported_model_predicts_through_the_cli(tmp_path):
    train_vbnet(load_config(config(tmp_path, steps=2, checkpoint_every=2)), progress=False)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(["predict", "depth", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--model",
                 str(tmp_path / "run" / "model"), "--quiet"]) == 0
    depth = np.load(tmp_path / "out" / "a.depth.npy")
    assert depth.shape == (40, 30) and depth.dtype == np.float32
    record = json.loads((tmp_path / "out" / "a.json").read_text())
    assert record["settings"]["generator"] == "vbnet:model"


@pytest.mark.parametrize("override, message", [
    ({"tasks": ["depht"]}, "unknown task 'depht'"),
    ({"method": "magic"}, "method 'magic'"),
    ({"steps": 0}, "steps=0"),
    ({"terminal_fraction": 2}, "terminal_fraction=2"),
    ({"data": [{"type": "tape"}]}, "data source type 'tape'"),
])
def test_bad_configs_fail_before_training(tmp_path, override, message):
    with pytest.raises(InputError, match=message):
        train_vbnet(load_config(config(tmp_path, **override)), progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_missing_ground_truth_is_reported_before_training(tmp_path):
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "depth").mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "data" / "images" / f"{name}.png")
    np.save(tmp_path / "data" / "depth" / "a.npy", np.ones((8, 8)))
    path = config(tmp_path, data=[{"type": "folder", "path": str(tmp_path / "data")}], tasks=["depth"])
    with pytest.raises(InputError, match=r"1 image\(s\) lack depth ground truth \(e.g. depth/b"):
        train_vbnet(load_config(path), progress=False)


def test_cli_config_errors(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("steps: [unclosed")
    assert main(["train", str(tmp_path / "bad.yaml")]) == 1
    assert "not valid YAML" in capsys.readouterr().err
    (tmp_path / "unknown.json").write_text('{"stepz": 3}')
    assert main(["train", str(tmp_path / "unknown.json")]) == 1
    assert "unknown setting(s) stepz" in capsys.readouterr().err


def test_resuming_with_another_configuration_is_refused(tmp_path):
    path = config(tmp_path, steps=3)
    train_vbnet(load_config(path), progress=False)
    with pytest.raises(InputError, match="different configuration"):
        train_vbnet(load_config(path, {"learning_rate": "0.1", "steps": "6"}), progress=False)


def test_terminal_fraction_trains_the_first_sampling_step():
    import torch

    from vb_plugins.generation.vbnet import VBNet, VBNetConfig, flow_matching_loss

    torch.manual_seed(0)
    model = VBNet(VBNetConfig(**{**TINY, "channels": (8, 16)}))
    image, target = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    cond = model.condition(["Generate a metric depth map of the input image."] * 2)
    with torch.no_grad():
        loss = flow_matching_loss(model, image, target, cond, torch.Generator().manual_seed(3), terminal_fraction=1.0)
        noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(3))
        expected = ((model(image, noise, torch.ones(2), cond) - (noise - target)) ** 2).mean()
        mixed = flow_matching_loss(model, image, target, cond, torch.Generator().manual_seed(3), terminal_fraction=0.0)
    assert torch.allclose(loss, expected)  # every example at t = 1: pure noise in, velocity from the image
    assert not torch.allclose(mixed, expected)


def test_checkpoint_model_of_a_run_started_from_a_model_directory(tmp_path):
    from vb_plugins.training.vbnet_trainer import load_checkpoint_model

    first = train_vbnet(load_config(config(tmp_path, steps=2, checkpoint_every=2)), progress=False)
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    exported = train_vbnet(load_config(config(second_dir, steps=2, checkpoint_every=2, model=str(first), vbnet={})),
                           progress=False)
    model = load_checkpoint_model(second_dir / "run")
    assert model.config.resolution == 32 and list(model.config.channels) == [8, 16]  # the directory's architecture
    ema = load_file(str(exported / "model.safetensors"))
    assert all((model.state_dict()[k] == v).all() for k, v in ema.items())
