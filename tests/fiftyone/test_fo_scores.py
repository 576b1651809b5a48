"""Per-sample scores (issue 22): written with every prediction run, right on drawn images whose regions
are known, declared for the App's sidebar, and reproduced exactly by a backfill from the stored files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HEIGHT, LEGEND, WIDTH, scene

from vb_plugins.errors import InputError

MEGAPIXELS = HEIGHT * WIDTH / 1e6  # generate at the image's own size: decoded regions stay pixel-exact
TOTAL = HEIGHT * WIDTH
WHITE = (255, 255, 255)  # far from every legend colour: decoded as unlabeled, confidence 0


def ball_pixels(index: int) -> np.ndarray:
    """The ball of ``scene(index)`` from its geometry (the formula the scene is drawn with)."""
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    return (yy - 48) ** 2 + (xx - 30 - 8 * (index % 8)) ** 2 <= 18 ** 2


def white_side(index: int) -> int:
    return (0, 6, 10, 14)[index % 4]


def drawn(index: int) -> np.ndarray:
    """``scene(index)`` with a white (unlabeled) square of side ``white_side(index)`` in the background,
    clear of the bands and the ball."""
    image = scene(index)
    side = white_side(index)
    image[30:30 + side, 110:110 + side] = WHITE
    return image


@pytest.fixture
def images_dataset(fo, tmp_path):
    from PIL import Image

    created = []

    def make(images):
        samples = []
        for i, image in enumerate(images):
            path = tmp_path / f"image{i}.png"
            Image.fromarray(image).save(path)
            samples.append(fo.Sample(filepath=str(path), index=i))
        dataset = fo.Dataset()
        dataset.add_samples(samples, progress=False)
        created.append(dataset)
        return dataset

    yield make
    for dataset in created:
        if not dataset.deleted:
            dataset.delete()


def predict(run_op, dataset, tmp_path, **params):
    params = {"output_dir": str(tmp_path / params["output_field"]), "megapixels": MEGAPIXELS, **params}
    return run_op("predict", dataset.view(), params)


def plain(value):
    """An embedded document's fields as a dict (without FiftyOne's ``_cls``); other values as they are."""
    if hasattr(value, "to_dict"):
        return {k: v for k, v in value.to_dict().items() if k != "_cls"}
    return value


def score_values(dataset, field: str) -> dict:
    """{score field: {sample id: value}} of every score the dataset holds for ``field`` (shares as dicts)."""
    out = {}
    for name in dataset.get_field_schema():
        if name.startswith(field + "_") and name.endswith(("_mean", "_share", "_shares", "_count")):
            values = dataset.values(name)
            out[name] = dict(zip(dataset.values("id"), [plain(v) for v in values]))
    return out


def test_semantic_scores_match_the_drawn_regions_and_are_declared_for_the_app(fo, images_dataset, run_op, tmp_path):
    dataset = images_dataset([drawn(i) for i in range(4)])
    result = predict(run_op, dataset, tmp_path, task="semantic", output_field="seg", model="paint:identity",
                     classes=LEGEND)
    assert result["predicted"] == 4
    dataset.reload()
    for sample in dataset:
        i = sample.index
        white = white_side(i) ** 2
        ball = int(ball_pixels(i).sum())
        expected = {"sky": 24 * WIDTH / TOTAL, "road": 24 * WIDTH / TOTAL, "ball": ball / TOTAL,
                    "background": (TOTAL - 48 * WIDTH - ball - white) / TOTAL}
        assert sample.seg_unlabeled_share == pytest.approx(white / TOTAL, abs=1e-12)
        assert plain(sample.seg_class_shares) == pytest.approx(expected, abs=1e-12)
        # confidence is the reliability (issue 23): 0 on the unlabeled white, near 1 on exact legend colours
        # (a little under 1 along region borders); the score is the mean of the stored map
        stored = sample.seg_confidence.get_map()
        assert sample.seg_confidence_mean == stored.sum(dtype=np.uint64) / (stored.size * sample.seg_confidence.scale)
        assert 1 - white / TOTAL - 0.005 <= sample.seg_confidence_mean <= 1 - white / TOTAL
    schema = dataset.get_field_schema(flat=True)
    assert type(schema["seg_confidence_mean"]) is fo.FloatField
    assert type(schema["seg_unlabeled_share"]) is fo.FloatField
    assert type(schema["seg_class_shares.ball"]) is fo.FloatField
    assert "uncertainty" not in " ".join(schema)  # no ensemble, no uncertainty score
    assert "mean per-pixel decoding confidence of seg" in schema["seg_confidence_mean"].description
    assert schema["seg_class_shares.ball"].info == {"class": "ball", "mask_value": 3}
    # sortable and filterable like any declared field
    order = dataset.sort_by("seg_confidence_mean").values("index")
    assert order == [3, 2, 1, 0]
    assert dataset.match(fo.ViewField("seg_unlabeled_share") > 0).count() == 3


class _FirstSampleDisagrees:
    """A weightless model for ensembles: paints each image as it is, except that the first sample of every
    image paints the ball sky-red (so 1 of 3 samples disagrees on the ball's pixels)."""

    def __init__(self):
        self.seen: set[bytes] = set()

    def __call__(self, image, prompt):
        key = image.tobytes()
        if key in self.seen:
            return image
        self.seen.add(key)
        painted = image.copy()
        painted[np.all(image == (0, 255, 0), axis=-1)] = (255, 0, 0)
        return painted


@pytest.fixture
def disagreeing_backend():
    """``flaky:`` model strings: :class:`_FirstSampleDisagrees` at the generation size asked for."""
    from vb_plugins import registry
    from vb_plugins.fiftyone_tools.painting import _PaintPlugin
    from vb_plugins.generation.base import GeneratorBackend
    from vb_plugins.hookspecs import hookimpl
    from vb_plugins.testing.generators import PaintingGenerator

    class Flaky(GeneratorBackend):
        name = "flaky"

        def load(self, model, megapixels=None, **options):
            generator = PaintingGenerator(_FirstSampleDisagrees(), megapixels=megapixels)
            generator.name = "flaky:" + model
            return generator

    class Plugin:
        __name__ = "test_fo_scores_flaky"

        @hookimpl
        def vb_generators(self):
            return [Flaky()]

    previous = registry.get_registry()
    registry.reset_registry(registry.Registry(plugins=[_PaintPlugin(), Plugin()]))
    yield
    registry.reset_registry(previous)


def test_ensemble_uncertainty_mean_is_the_disagreeing_share_of_samples(fo, images_dataset, run_op, tmp_path,
                                                                      disagreeing_backend):
    dataset = images_dataset([scene(i) for i in range(2)])
    predict(run_op, dataset, tmp_path, task="semantic", output_field="seg", model="flaky:ball", classes=LEGEND,
            ensemble=3)
    dataset.reload()
    for sample in dataset:
        ball = int(ball_pixels(sample.index).sum())
        # majority keeps the ball; 1 of 3 samples disagrees there: 1/3, stored as 333 thousandths
        assert sample.seg_uncertainty_mean == pytest.approx(ball * 0.333 / TOTAL, abs=1e-12)
        assert sample.seg_class_shares.ball == pytest.approx(ball / TOTAL, abs=1e-12)
    field = dataset.get_field("seg_uncertainty_mean")
    assert type(field) is fo.FloatField and "fraction of ensemble samples" in field.description


def test_instance_count_and_referring_share(fo, images_dataset, run_op, tmp_path):
    images = []
    for count in (1, 3, 2):
        image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        for k in range(count):
            image[10 + 28 * k:30 + 28 * k, 10 + 30 * k:30 + 30 * k] = ((255, 0, 0), (0, 0, 255), (0, 255, 0))[k]
        images.append(image)
    dataset = images_dataset(images)
    predict(run_op, dataset, tmp_path, task="instance", output_field="things", model="paint:identity",
            classes="thing")
    predict(run_op, dataset, tmp_path, task="referring", output_field="red", model="paint:identity",
            expression="the red square", colour="red")
    dataset.reload()
    assert dataset.values("things_instance_count") == [1, 3, 2]
    assert type(dataset.get_field("things_instance_count")) is fo.IntField
    assert dataset.values("red_mask_share") == pytest.approx([400 / TOTAL] * 3, abs=1e-12)


def test_backfill_reproduces_exactly_what_a_fresh_run_writes(fo, images_dataset, run_op, tmp_path):
    dataset = images_dataset([drawn(i) for i in range(4)])
    runs = [dict(task="semantic", output_field="seg", model="paint:identity", classes=LEGEND, ensemble=2),
            dict(task="instance", output_field="things", model="paint:identity", classes="thing"),
            dict(task="referring", output_field="ball", model="paint:identity", expression="ball", colour="lime"),
            dict(task="depth", output_field="depth", model="paint:depth", ensemble=2),
            dict(task="normals", output_field="normals", model="paint:normals")]
    fresh = {}
    for params in runs:
        predict(run_op, dataset, tmp_path, **params)
        dataset.reload()
        fresh[params["output_field"]] = score_values(dataset, params["output_field"])
    assert set(fresh["seg"]) == {"seg_confidence_mean", "seg_uncertainty_mean", "seg_unlabeled_share",
                                 "seg_class_shares"}
    assert set(fresh["depth"]) == {"depth_confidence_mean", "depth_uncertainty_mean"}
    assert set(fresh["normals"]) == {"normals_confidence_mean"}
    # as if the runs predated the scores: the fields are gone; the backfill operator brings them back
    for scores in fresh.values():
        dataset.delete_sample_fields(list(scores))
    for field in fresh:
        result = run_op("backfill_scores", dataset.view(), {"field": field})
        assert result["scored"] == 4 and not result["skipped"]
    dataset.reload()
    for field, scores in fresh.items():
        assert score_values(dataset, field) == scores  # exact float equality
    assert type(dataset.get_field_schema(flat=True)["seg_class_shares.sky"]) is fo.FloatField


def test_backfill_reports_missing_maps_and_unreadable_labels(fo, images_dataset, run_op, tmp_path):
    import os

    dataset = images_dataset([drawn(i) for i in range(3)])
    predict(run_op, dataset, tmp_path, task="semantic", output_field="seg", model="paint:identity",
            classes=LEGEND, save_confidence=False)
    dataset.reload()
    assert dataset.count("seg_confidence_mean") == 3  # written from the run's confidence array
    os.remove(dataset.first().seg.mask_path)
    result = run_op("backfill_scores", dataset.view(), {"field": "seg"})
    assert result["scored"] == 2 and len(result["skipped"]) == 1 and "no such file" in result["skipped"][0]["reason"]
    assert result["incomplete"] == {"seg_confidence_mean": 2}
    assert "not written for 2 sample(s) (no stored map)" in result["message"]


def test_a_score_field_of_another_type_is_refused_before_anything_is_written(fo, images_dataset, run_op, tmp_path):
    from vb_plugins.fiftyone_tools.runner import predict_collection
    from vb_plugins.fiftyone_tools.scores import backfill_scores

    dataset = images_dataset([scene(0)])
    dataset.add_sample_field("seg_confidence_mean", fo.StringField)
    with pytest.raises(InputError, match="'seg_confidence_mean' holds StringField values"):
        predict_collection(dataset.view(), "semantic", "seg", "paint:identity", classes=LEGEND,
                           output_dir=tmp_path / "o")
    assert "seg" not in dataset.get_field_schema()
    with pytest.raises(InputError, match="no such field"):
        backfill_scores(dataset.view(), "nothing_here")


def test_class_keys_are_field_safe_and_unique():
    from vb_plugins.fiftyone_tools.scores import class_keys

    assert class_keys(["Road", "traffic light", "traffic-light", "2nd", "", "sky"]) == \
        ["road", "traffic_light", "traffic_light_3", "c_2nd", "class_5", "sky"]
