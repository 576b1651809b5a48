"""Value kinds: one table says how each kind of decoded values is combined, resized and filled."""

from __future__ import annotations

import numpy as np
import pytest

from vb_plugins import get_task
from vb_plugins.ensemble import Combined
from vb_plugins.errors import InputError
from vb_plugins.kinds import ValueKind, builtin_value_kinds, get_value_kind
from vb_plugins.tasks import Task


def test_every_builtin_task_has_a_known_kind():
    assert [k.name for k in builtin_value_kinds()] == ["depth", "normals", "labels", "instances", "mask", "image"]
    assert {get_task(name).kind.name for name in ("depth", "normals", "semantic", "instance", "referring")} == \
        {"depth", "normals", "labels", "instances", "mask"}
    assert np.isnan(get_value_kind("depth").fill) and get_value_kind("mask").fill is False
    assert get_value_kind("depth").spread_units == "m" and get_value_kind("normals").spread_units == "deg"


class OddTask(Task):
    name = "odd"
    value_kind = "vectors"  # not a kind anyone registered

    def default_prompt(self, spec):
        return "paint it"


def test_an_unknown_kind_is_a_one_line_error_not_a_silent_image():
    with pytest.raises(InputError, match=r"^unknown value kind 'vectors'; known: depth, normals, labels"):
        _ = OddTask().kind
    with pytest.raises(InputError, match="unknown value kind 'vectors'"):
        OddTask().combine([[None]], OddTask().make_spec())


def test_kinds_resize_by_their_own_rule():
    normals = np.zeros((4, 4, 3), np.float32)
    normals[..., 2] = 1.0
    normals[0, 0] = 0.0  # no normal here
    big = get_value_kind("normals").resize_values(normals, (8, 8))
    lengths = np.linalg.norm(big, axis=-1)
    assert np.allclose(lengths[2:, 2:], 1.0) and np.allclose(big[:2, :2], 0.0)
    labels = np.array([[1, 2], [3, 4]], np.int32)
    assert set(np.unique(get_value_kind("labels").resize_values(labels, (5, 7)))) == {1, 2, 3, 4}
    depth = Combined(np.full((2, 2), 3.0, np.float32), np.ones((2, 2), np.float32))
    resized = get_value_kind("depth").resize(depth, (4, 6))
    assert resized.values.shape == (4, 6) and np.allclose(resized.values, 3.0)


def test_a_plugin_kind_is_a_kind_object_with_its_own_rules():
    class Flow(ValueKind):
        def combine(self, decodings, class_names=None):
            flat = [d for per_pass in decodings for d in per_pass]
            return Combined(np.mean([d.values for d in flat], axis=0), np.ones(flat[0].values.shape[:2], np.float32))

    flow = Flow("flow", "optical flow", "px", "px", 0.0, stored_as="image")
    assert get_value_kind(flow) is flow and flow.stored_as == "image"
    sample = type("D", (), {"values": np.ones((2, 2, 2), np.float32)})
    assert np.allclose(flow.combine([[sample, sample]]).values, 1.0)
