"""`vb train` reads ground truth from a FiftyOne dataset: labels in, training examples out, gaps reported."""

import json

import numpy as np
import pytest

from vb_plugins.errors import InputError
from vb_plugins.training.config import load_config
from vb_plugins.training.data import Augmentation, examples
from vb_plugins.training.sources import source_from_config


@pytest.fixture
def gt_dataset(fo, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    dataset = fo.Dataset()
    dataset.persistent = False
    dataset.default_mask_targets = {1: "floor", 2: "wall"}
    samples = []
    for i in range(3):
        image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        Image.fromarray(image).save(tmp_path / f"im{i}.png")
        depth_mm = np.full((24, 32), 1500 + 500 * i, np.uint16)
        Image.fromarray(depth_mm).save(tmp_path / f"depth{i}.png")
        normals = np.zeros((24, 32, 3), np.float32)
        normals[..., 2] = 1.0
        np.save(tmp_path / f"normals{i}.npy", normals)
        labels = np.zeros((24, 32), np.uint8)
        labels[12:] = 1
        labels[:12, :16] = 2
        samples.append(fo.Sample(filepath=str(tmp_path / f"im{i}.png"), tags=["train"] if i < 2 else ["val"],
                                 depth=fo.Heatmap(map_path=str(tmp_path / f"depth{i}.png")),
                                 normals=str(tmp_path / f"normals{i}.npy"),
                                 seg=fo.Segmentation(mask=labels)))
    dataset.add_samples(samples, progress=False)
    yield dataset
    dataset.delete()


def test_fiftyone_source_feeds_training_examples(gt_dataset):
    source = source_from_config({"type": "fiftyone", "dataset": gt_dataset.name, "view_tag": "train",
                                 "depth_field": "depth", "depth_scale": 1000, "normals_field": "normals",
                                 "semantic_field": "seg"})
    assert len(source) == 2 and source.class_names == ["floor", "wall"]
    source.check(["depth", "normals", "semantic"])
    gt = source.load(1)
    assert gt.image.shape == (24, 32, 3)
    assert np.allclose(gt.depth, 2.0)  # 2000 mm / 1000
    assert np.allclose(gt.normals[..., 2], 1.0)
    assert set(np.unique(gt.semantic)) == {0, 1, 2}

    stream = examples(source, ["depth", "semantic"], seed=0, augment=Augmentation(flip=0.0, depth_scheme=0.0))
    depth_example, semantic_example = next(stream), next(stream)
    from vb_plugins.registry import get_task

    decoded = get_task("depth").codec.decode(depth_example.target).depth
    assert np.allclose(decoded, 1.5, rtol=0.01)  # sample 0: 1500 mm
    assert "floor" in semantic_example.prompt or "wall" in semantic_example.prompt


def test_fiftyone_source_reports_problems_before_training(gt_dataset, tmp_path):
    with pytest.raises(InputError, match="no such field"):
        source_from_config({"type": "fiftyone", "dataset": gt_dataset.name, "depth_field": "dpeth"})
    with pytest.raises(InputError, match="does not exist"):
        source_from_config({"type": "fiftyone", "dataset": "no-such-dataset-here"})
    first = gt_dataset.first()
    first["depth"] = None
    first.save()
    source = source_from_config({"type": "fiftyone", "dataset": gt_dataset.name, "depth_field": "depth",
                                 "depth_scale": 1000})
    with pytest.raises(InputError, match="1 sample\\(s\\) lack ground truth for depth"):
        source.check(["depth"])
    with pytest.raises(InputError, match="names no normals_field"):
        source.check(["normals"])


def test_vb_train_runs_on_a_fiftyone_dataset(gt_dataset, tmp_path):
    from vb_plugins.training.vbnet_trainer import train_vbnet

    path = tmp_path / "train.json"
    path.write_text(json.dumps({
        "output_dir": str(tmp_path / "run"), "tasks": ["depth", "normals"], "steps": 2, "batch_size": 2,
        "checkpoint_every": 2, "log_every": 1, "threads": 1,
        "data": [{"type": "fiftyone", "dataset": gt_dataset.name, "depth_field": "depth", "depth_scale": 1000,
                  "normals_field": "normals"}],
        "vbnet": {"channels": [8, 16], "cond_dim": 16, "text_vocab": 64, "resolution": 32, "multiple": 2},
    }))
    exported = train_vbnet(load_config(path), progress=False)
    assert (exported / "model.safetensors").is_file()
    assert len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) == 2
