import numpy as np
import pytest

import vb_plugins
from vb_plugins.codecs import InstanceCodec, ReferringCodec, SemanticCodec, permuted_legends, vote_labels
from vb_plugins.errors import InputError

LEGEND = {"cat": "red", "dog": "blue", "background": "#ffff00"}


def test_semantic_round_trip_and_unlabeled():
    codec = SemanticCodec()
    labels = np.random.default_rng(0).integers(0, 4, (40, 50))
    rgb = codec.encode(labels, LEGEND, unlabeled="black")
    decoding = codec.decode(rgb, LEGEND)
    assert np.array_equal(decoding.labels, labels)  # black is > 80 levels from every legend colour
    assert decoding.names == ["cat", "dog", "background"]
    # confidence is the calibrated reliability (issue 23): 0 where unlabeled, positive on legend colours
    assert np.all(decoding.confidence[labels > 0] > 0) and np.all(decoding.confidence[labels == 0] == 0)


def test_semantic_nearest_colour_within_tolerance():
    codec = SemanticCodec(tolerance=50)
    rgb = np.array([[[230, 20, 10], [20, 10, 230], [128, 128, 128], [230, 235, 20]]], np.uint8)
    labels, distance = codec.decode(rgb, LEGEND)
    assert labels.tolist() == [[1, 2, 0, 3]]
    assert distance[0, 0] == pytest.approx(np.linalg.norm([25, 20, 10]), abs=1e-3)


def test_semantic_requires_colours_for_every_class():
    with pytest.raises(InputError, match="no colour given for 'dog'"):
        SemanticCodec().decode(np.zeros((2, 2, 3), np.uint8), {"cat": "red", "dog": None})
    with pytest.raises(InputError, match=r"share the colour \(255, 0, 0\)"):
        SemanticCodec().decode(np.zeros((2, 2, 3), np.uint8), {"a": "red", "b": "#ff0000"})


def test_voting_over_permuted_legends_fixes_a_colour_binding_mistake():
    legends = permuted_legends(LEGEND, passes=3, seed=0)
    assert legends[0] == [("cat", (255, 0, 0)), ("dog", (0, 0, 255)), ("background", (255, 255, 0))]
    assert all(sorted(c for _, c in legend) == sorted(c for _, c in legends[0]) for legend in legends)
    truth = np.array([[1, 2, 3, 0]])
    wrong = np.array([[2, 2, 3, 0]])  # one pass swapped cat for dog
    labels, agreement = vote_labels([truth, wrong, truth], num_classes=3)
    assert labels.tolist() == truth.tolist()
    assert agreement.tolist() == [[pytest.approx(2 / 3), 1, 1, 1]]


def test_instance_codec_finds_each_colour_and_drops_background_and_specks():
    ids = np.zeros((60, 80), np.int32)
    ids[5:25, 5:25] = 1
    ids[30:55, 10:40] = 2
    ids[10:50, 50:75] = 3
    ids[0:3, 77:80] = 4  # 9 px: below min_area
    codec = InstanceCodec()
    rgb = codec.encode(ids)
    assert (rgb[ids == 0] == 0).all()  # default background is black
    decoding = codec.decode(rgb)
    assert decoding.count == 3
    # Instances are numbered in raster order of their first pixel: 1 (row 5), 3 (row 10), 2 (row 30).
    for new_id, old_id in enumerate((1, 3, 2), start=1):
        assert np.array_equal(decoding.masks[new_id - 1], ids == old_id)
        assert np.array_equal(decoding.ids == new_id, ids == old_id)
    assert (decoding.ids[ids == 4] == 0).all() and (decoding.ids[ids == 0] == 0).all()


def test_instance_clustering_merges_shades_within_tolerance():
    rgb = np.full((40, 40, 3), 255, np.uint8)
    rgb[:20, :20] = (200, 30, 30)
    rgb[:20, 10:20] = (210, 40, 35)  # same instance, slightly different shade (< 30 levels)
    rgb[25:, 25:] = (30, 30, 200)
    decoding = InstanceCodec(min_area=50, background="white").decode(rgb)
    assert decoding.count == 2
    assert decoding.masks[0][:20, :20].all()


def test_referring_round_trip():
    mask = np.zeros((30, 30), bool)
    mask[5:20, 8:25] = True
    codec = ReferringCodec()
    rgb = codec.encode(mask)
    assert rgb[mask].tolist()[0] == [255, 255, 255] and rgb[~mask].tolist()[0] == [0, 0, 0]  # white on black
    decoded, distance = codec.decode(rgb)
    assert np.array_equal(decoded, mask)
    green = ReferringCodec(colour="lime").encode(mask)
    assert np.array_equal(codec.decode(green, colour="lime").mask, mask)
    with pytest.raises(InputError, match="equals the background"):
        ReferringCodec(colour="black")


def test_tasks_expose_codecs_through_the_public_api():
    for name in ("depth", "normals", "semantic", "instance", "referring"):
        task = vb_plugins.get_task(name)
        assert hasattr(task.codec, "encode") and hasattr(task.codec, "decode")
