"""Decoding survives what generators and APIs do to their pictures: JPEG q=75 plus Gaussian noise
σ = 8/255 on rendered synthetic scenes (depth, semantic, instance)."""

import cv2
import numpy as np
import pytest

from vb_plugins.codecs import DepthCodec, InstanceCodec, SemanticCodec
from vb_plugins.codecs.colors import palette
from vb_plugins.testing import degrade
from vb_plugins.training.synthetic import SEMANTIC_CLASSES, render_scenes


def damaged(rgb: np.ndarray) -> np.ndarray:
    return degrade.gaussian_noise(degrade.jpeg(rgb, 75), 8)


@pytest.fixture(scope="module")
def scenes():
    return render_scenes(range(2_000_000, 2_000_006), 128, 128)


def test_depth_delta1_at_least_099_under_jpeg75_and_noise8(scenes):
    codec = DepthCodec()
    for scene in scenes:
        truth = np.where(scene.valid, scene.depth, np.inf)
        decoded = codec.decode(damaged(codec.encode(truth))).depth
        finite = np.isfinite(truth)
        p, g = decoded[finite], truth[finite]
        assert np.isfinite(p).all(), "a surface decoded as infinitely far"
        assert np.mean(np.maximum(p / g, g / p) < 1.25) >= 0.99, scene.seed
        if (~finite).any():
            assert np.mean(np.isinf(decoded[~finite])) > 0.95  # sky stays sky


def away_from_edges(labels: np.ndarray, radius: int = 2) -> np.ndarray:
    edges = (cv2.Laplacian(labels.astype(np.float32), -1) != 0).astype(np.uint8)
    return cv2.dilate(edges, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)) == 0


def test_semantic_accuracy_at_least_099_away_from_edges(scenes):
    codec = SemanticCodec()
    present = sorted(set(np.unique(np.concatenate([s.semantic.ravel() for s in scenes]))) - {0})
    names = [SEMANTIC_CLASSES[i] for i in present]
    classes = dict(zip(names, (tuple(int(v) for v in c) for c in palette(len(names), avoid=[(0, 0, 0)]))))
    for scene in scenes:
        labels = np.zeros(scene.semantic.shape, np.int32)  # ids into this legend: i + 1 for names[i]
        for i, semantic_id in enumerate(present):
            labels[scene.semantic == semantic_id] = i + 1
        decoded = codec.decode(damaged(codec.encode(labels, classes)), classes).labels
        interior = away_from_edges(labels)
        assert (decoded == labels)[interior].mean() >= 0.99, scene.seed


def test_instance_counts_exact_for_well_separated_colours(scenes):
    codec = InstanceCodec()
    for scene in scenes:
        ids = scene.instance.copy()
        values, areas = np.unique(ids[ids > 0], return_counts=True)
        ids[np.isin(ids, values[areas < 150])] = 0  # below the decoder's minimum area once eroded by noise
        kept = len(np.unique(ids[ids > 0]))
        rgb = codec.encode(ids, colours=palette(kept, avoid=[codec.background]))
        assert codec.decode(damaged(rgb)).count == kept, scene.seed
