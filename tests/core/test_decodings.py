"""Every codec's result is a Decoding; the decode mode is an argument of every decode."""

from __future__ import annotations

import numpy as np
import pytest

import vb_plugins
from vb_plugins.codecs import Decoding, decode_mode
from vb_plugins.errors import InputError
from vb_plugins.tasks import Task, decode_in_mode
from vb_plugins.testing.degrade import jpeg


def depth_picture():
    y, x = np.mgrid[0:48, 0:64]
    return vb_plugins.get_task("depth").encode((1.0 + x / 8.0 + y / 16.0).astype(np.float32))


@pytest.mark.parametrize("task, options, image, pair", [
    ("depth", {}, depth_picture(), ("depth", "residual")),
    ("normals", {}, np.full((8, 8, 3), (128, 128, 255), np.uint8), ("normals", "valid")),
    ("semantic", {"classes": {"cat": "red"}}, np.full((8, 8, 3), (255, 0, 0), np.uint8), ("labels", "distance")),
    ("instance", {}, np.zeros((8, 8, 3), np.uint8), ("ids", "masks")),
    ("referring", {"expression": "it"}, np.zeros((8, 8, 3), np.uint8), ("mask", "distance")),
    ("referring", {"classes": {"a": "red", "b": "blue"}}, np.zeros((8, 8, 3), np.uint8), ("labels", "distance")),
])
def test_every_result_is_a_decoding_with_values_confidence_mode_and_its_pair(task, options, image, pair):
    task = vb_plugins.get_task(task)
    decoding = task.decode(image, task.make_spec(**options), mode="exact")
    assert isinstance(decoding, Decoding) and decoding.mode == "exact"
    assert decoding.values is getattr(decoding, pair[0])
    assert decoding.confidence.shape == image.shape[:2]
    first, second = decoding
    assert first is getattr(decoding, pair[0]) and second is getattr(decoding, pair[1])


def test_an_explicit_mode_wins_over_the_default_a_user_set():
    depth = vb_plugins.get_task("depth")
    damaged = jpeg(depth_picture(), 50)
    with decode_mode("robust"):
        assert depth.decode(damaged, mode="exact").mode == "exact"
        assert depth.decode(damaged).mode == "robust"  # no mode given: the default the block set
    with pytest.raises(InputError, match="decode mode 'fast'"):
        depth.decode(damaged, mode="fast")
    with pytest.raises(InputError, match="decode mode 'fast'"):
        vb_plugins.get_task("referring").decode(damaged, mode="fast")


class ModelessTask(Task):
    """A plugin task written before decode took a mode."""

    name = "modeless"
    value_kind = "depth"

    def decode(self, image, spec=None):
        return vb_plugins.get_task("depth").decode(image)


def test_a_plugin_task_without_a_mode_argument_still_decodes_in_the_mode_asked_for():
    damaged = jpeg(depth_picture(), 50)
    assert decode_in_mode(ModelessTask(), damaged, None, "exact").mode == "exact"
    assert decode_in_mode(ModelessTask(), damaged, None, "robust").mode == "robust"
    depth = vb_plugins.get_task("depth")
    assert decode_in_mode(depth, damaged, depth.make_spec(), "exact").mode == "exact"
