"""Reliability (issue 23): calibrated probability that a decoded pixel is within the task's tolerance, and
expected error in the task's units, kept apart from how coarse the encoding is at that depth."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vb_plugins.codecs import DepthCodec, NormalsCodec, SemanticCodec
from vb_plugins.codecs._robust import _Path, depth_confidence, robust_depth
from vb_plugins.errors import InputError
from vb_plugins.reliability import (
    CALIBRATION_FILE,
    depth_reliability,
    load_calibration,
    noise_fit,
    normals_reliability,
    semantic_reliability,
)
from vb_plugins.reliability import fitting as F
from vb_plugins.reliability import noise as N
from vb_plugins.reliability.features import (
    DEPTH_NAMES,
    NORMALS_NAMES,
    SEMANTIC_NAMES,
    SIGNS,
    depth_positions,
    depth_within_tolerance,
    metres_per_step,
)
from vb_plugins.reliability.model import expected_calibration_error, fit_logistic, isotonic

REPO = Path(__file__).resolve().parents[2]
NAMES = {"depth": DEPTH_NAMES, "normals": NORMALS_NAMES, "semantic": SEMANTIC_NAMES}


@pytest.fixture(scope="module")
def codec():
    return DepthCodec()


@pytest.fixture(scope="module")
def noise():
    return N.load_noise()


def far_wall(distance: float, size: int = 96) -> np.ndarray:
    """A wall at ``distance`` metres, slightly slanted (a plane: linear in inverse depth)."""
    u = (np.mgrid[0:size, 0:size][1] + 0.5) / size
    return (distance / (1.0 + 0.2 * (u - 0.5))).astype(np.float32)


# -- the shipped files -------------------------------------------------------------------------------------
def test_calibration_tables_load_with_features_matching_the_decoders():
    tables = json.loads(CALIBRATION_FILE.read_text())
    assert sorted(tables) == [f"{t}/{m}" for t in ("depth", "normals", "semantic") for m in ("exact", "robust")]
    for key in tables:
        task, mode = key.split("/")
        table = load_calibration(task, mode)
        table.check(NAMES[task])
        assert table.samples > 100_000
        assert len(table.iso_x) == len(table.iso_y) >= 5 and len(table.error_x) == len(table.error_y) >= 5
        assert np.all(np.diff(table.iso_x) > 0) and np.all(np.diff(table.iso_y) >= 0)
        assert 0.0 <= min(table.iso_y) and max(table.iso_y) <= 1.0
        assert np.all(np.diff(table.error_y) >= 0) and min(table.error_y) >= 0
        # Features that grow with the residual (or with disagreement) never raise reliability.
        for name, weight in zip(table.names, table.weights):
            assert weight * SIGNS[task].get(name, 0) >= 0, (key, name, weight)


def test_generator_noise_file_loads_and_records_its_source(noise):
    assert "bundled model" in noise.source
    assert len(noise.depth.along) == len(noise.depth.bias) == len(noise.depth.across) == 7
    assert all(0 < a < 50 for a in noise.depth.along) and noise.depth.correlation >= 0
    assert 0 <= noise.normals.shrink < 0.5 and noise.normals.tangential > 0
    assert "check" in noise.notes and noise.notes["check"]["depth"]


def test_a_malformed_table_is_refused_in_one_line(tmp_path):
    path = tmp_path / "tables.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="calibration tables"):
        load_calibration("depth", "exact", path)
    with pytest.raises(InputError, match="cannot read"):
        load_calibration("depth", "exact", tmp_path / "missing.json")
    only_exact = tmp_path / "one.json"
    only_exact.write_text(json.dumps({"depth/exact": json.loads(CALIBRATION_FILE.read_text())["depth/exact"]}))
    with pytest.raises(InputError, match="none for depth/robust"):
        load_calibration("depth", "robust", only_exact)
    table = load_calibration("depth", "exact", only_exact)
    with pytest.raises(InputError, match="refit"):
        table.check(NORMALS_NAMES)


# -- behaviour ---------------------------------------------------------------------------------------------
def test_reliability_falls_as_a_colour_moves_off_the_path(codec):
    """Moving one block's colour straight off the path (the decoded value stays the same) never raises its
    reliability, and a colour far off the path is unreliable."""
    depth = far_wall(40.0)
    previous = 1.0
    for offset in (0, 4, 8, 16, 32, 64, 96, 120):  # beyond 127 the colour is nearer red -> yellow
        picture = codec.encode(depth)
        # 30-60 m lies on magenta -> white: red and blue are 255 there, green varies.
        picture[40:46, 40:46, 2] = np.clip(picture[40:46, 40:46, 2].astype(int) - offset, 0, 255)
        decoding = codec.decode(picture, mode="exact")
        reliability = depth_reliability(codec, picture, decoding).reliability[43, 43]
        assert reliability <= previous + 1e-6
        previous = reliability
    assert previous < 0.2
    assert depth_reliability(codec, codec.encode(depth), codec.decode(codec.encode(depth))).reliability.min() > 0.9


def test_reliability_is_monotone_in_every_residual_feature_of_the_tables(codec, noise):
    picture = noise.depth.apply(codec.encode(far_wall(8.0, 64)), np.random.default_rng(3))
    from vb_plugins.reliability.features import depth_features

    for mode in ("exact", "robust"):
        decoding = codec.decode(picture, mode=mode)
        features = depth_features(codec, picture, decoding)
        table = load_calibration("depth", mode)
        columns = [table.names.index(n) for n in ("residual", "local_residual", "corner")]
        values = []
        for extra in (0.0, 0.5, 1.0, 2.0, 4.0):
            matrix = features.matrix.copy()
            matrix[:, columns] += extra
            values.append(table.reliability(matrix.T))
        assert np.all(np.diff(np.stack(values), axis=0) <= 1e-6)
        assert values[-1].mean() < values[0].mean()


def test_a_far_pixel_read_exactly_is_reliable_where_todays_confidence_is_low(codec, noise):
    """A 40 m wall painted with the fitted generator noise around a patch of exact colours: the robust
    decoder reads the patch within tolerance, today's confidence calls it unreliable (the path step there
    is coarse), reliability does not."""
    depth = far_wall(40.0)
    exact = codec.encode(depth)
    picture = noise.depth.apply(exact, np.random.default_rng(0))
    patch = (slice(40, 56), slice(40, 56))
    picture[patch] = exact[patch]
    decoding = codec.decode(picture)
    assert decoding.mode == "robust"
    within, _ = depth_within_tolerance(codec, decoding.depth[patch], depth[patch])
    assert within.mean() >= 0.95
    reliability = depth_reliability(codec, picture, decoding).reliability[patch]
    # today's confidence (before issue 23): exp(-expected relative error / 1 %) of the robust decoder
    s0, residual = depth_positions(codec, picture)
    s, error, _ = robust_depth(codec, picture, s0, residual)
    assert depth_confidence(_Path(codec), s, error)[patch].mean() < 0.3
    assert reliability.min() >= 0.5 and reliability.mean() >= 0.8


def test_expected_error_grows_with_depth_as_the_path_step_does(codec, noise):
    path = _Path(codec)
    errors, steps = [], []
    for distance in (1.0, 3.0, 10.0, 20.0, 40.0):
        picture = noise.depth.apply(codec.encode(far_wall(distance, 64)), np.random.default_rng(1), amplitude=0.3)
        result = depth_reliability(codec, picture, codec.decode(picture, mode="robust"))
        assert result.unit == "m"
        errors.append(float(np.median(result.expected_error)))
        steps.append(float(metres_per_step(path, np.float32(codec.path_position(np.float32(distance))))))
    assert np.all(np.diff(errors) > 0)
    ratio = np.array(errors) / np.array(steps)  # expected error in path steps: about constant
    assert ratio.max() / ratio.min() < 3.0


def test_depth_tolerance_is_one_percent_or_one_path_step(codec):
    truth = np.array([2.0, 40.0, 100.0, np.inf], np.float32)
    near = codec.depth_table()[np.floor(codec.path_position(truth[:3])).astype(int) + 1]
    ok, error = depth_within_tolerance(codec, truth * np.float32(1.009), truth)
    assert ok.all()
    ok, _ = depth_within_tolerance(codec, truth * np.float32(1.02), truth)
    assert not ok[0] and not ok[1] and ok[2]  # at 100 m one step is 3.7 %
    ok, _ = depth_within_tolerance(codec, np.append(near, np.inf).astype(np.float32), truth)
    assert ok.all()  # one step away, and infinity read as infinity
    assert np.isinf(error[3])


def test_normals_and_labels_get_reliability_and_a_mask_of_usable_pixels(noise):
    from vb_plugins.training.synthetic import render_scene

    scene = render_scene(9_000_001, 64, 64)
    picture = noise.normals.apply(F.clean_picture("normals", scene), np.random.default_rng(0))
    normals_codec = NormalsCodec()
    decoding = normals_codec.decode(picture)
    result = normals_reliability(normals_codec, picture, decoding)
    assert result.unit == "deg" and result.reliability.shape == scene.valid.shape
    assert np.all(result.reliability[~decoding.valid] == 0) and np.all(result.expected_error[~decoding.valid] == 180)
    assert result.reliability[decoding.valid].mean() > 0.5
    legend = F.legend_for("basic")
    labels = SemanticCodec().encode(scene.semantic.astype(np.int32) + 1, legend)
    labels[:8, :8] = (128, 128, 128)  # between every legend colour: unlabeled
    decoding = SemanticCodec().decode(labels, legend)
    result = semantic_reliability(SemanticCodec(), labels, decoding, legend)
    assert result.expected_error is None
    assert np.all(result.reliability[decoding.labels == 0] == 0)
    labelled = decoding.labels > 0
    assert result.reliability[labelled].mean() > 0.95
    from vb_plugins.reliability.features import _agreement

    inside = labelled & (_agreement(decoding.labels.astype(np.int32), 5) == 1)  # away from label borders
    assert result.reliability[inside].min() > 0.9


def test_other_depth_schemes_get_reliability_too():
    codec = DepthCodec("plasma")
    picture = codec.encode(far_wall(5.0, 32))
    result = depth_reliability(codec, picture, codec.decode(picture))
    assert result.reliability.shape == (32, 32) and np.isfinite(result.reliability).all()


@pytest.mark.parametrize("kind", ["depth", "normals", "semantic"])
def test_reliability_is_calibrated_on_held_out_rendered_scenes(kind, noise):
    """Loose check of the benchmark's claim on two unseen scenes (the benchmark uses 24 and asks 0.05)."""
    from vb_plugins.training.synthetic import render_scene

    scenes = [render_scene(9_000_000 + i, 96, 96) for i in range(2)]
    fitted = noise.depth if kind == "depth" else noise.normals
    predicted, observed = [], []
    rng = np.random.default_rng(0)
    for i, scene in enumerate(scenes):
        legend = list(F.LEGENDS)[i % 2]
        how = F.Degradation(1.0, fitted.correlation, fitted.blur, "jpeg75")
        picture = F.degrade(kind, F.clean_picture(kind, scene, legend), noise, how, rng)
        _, ok, _, decoding = F.task_samples(kind, scene, picture, "auto", legend)
        if kind == "depth":
            result = depth_reliability(DepthCodec(), picture, decoding)
        elif kind == "normals":
            result = normals_reliability(NormalsCodec(), picture, decoding)
        else:
            result = semantic_reliability(SemanticCodec(), picture, decoding, F.legend_for(legend))
        predicted.append(result.reliability.ravel())
        observed.append(ok.ravel())
    ece, _ = expected_calibration_error(np.concatenate(predicted), np.concatenate(observed))
    assert ece < 0.1


# -- the noise fit, the model fit ------------------------------------------------------------------------
def test_noise_fit_recovers_a_known_noise_without_ground_truth():
    """Pictures made with a known noise on some scenes; the fit, simulating on other scenes, recovers it."""
    truth = N.DepthNoise(bias=[6.0] * 7, across=[3.0] * 7, along=[4.0] * 7, correlation=1.2, blur=0.8,
                         variability=0.2)
    rng = np.random.default_rng(0)
    scenes = noise_fit.simulation_scenes(16, 64, 64, seed=100)
    pictures = [truth.apply(DepthCodec().encode(s.depth), rng) for s in scenes[:8]]
    fitted, _ = noise_fit.fit_depth_noise(pictures, [N.LOSSLESS], scenes[8:], rounds=4)
    used = [k for k in range(7) if fitted.fitted[k]]
    assert len(used) >= 4
    assert np.allclose(np.array(fitted.along)[used], 4.0, rtol=0.3)
    assert np.allclose(np.array(fitted.bias)[used], 6.0, rtol=0.3)
    assert fitted.correlation == pytest.approx(1.2, rel=0.35)


def test_jpeg_quality_of_a_picture_is_estimated(tmp_path):
    picture = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    for quality in (50, 75, 95):
        Image.fromarray(picture).save(tmp_path / f"q{quality}.jpg", quality=quality)
        kind, estimate = N.image_compression(tmp_path / f"q{quality}.jpg")
        assert kind == "jpeg" and abs(estimate - quality) <= 2
    Image.fromarray(picture).save(tmp_path / "x.png")
    assert N.image_compression(tmp_path / "x.png") == N.LOSSLESS


def test_sign_constrained_logistic_and_isotonic_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2 * x[:, 0] + 0.5 * x[:, 1])))).astype(float)
    weights, _ = fit_logistic(x, y, np.array([0, -1]))  # the second must not be positive: pinned at 0
    assert weights[0] > 1.5 and weights[1] == 0
    fitted = isotonic(np.arange(6), np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.9]), np.ones(6))
    assert np.allclose(fitted, [0.1, 0.25, 0.25, 0.45, 0.45, 0.9])


def test_fit_noise_command_writes_a_loadable_model(tmp_path):
    folder = tmp_path / "pictures"
    (folder / "depth").mkdir(parents=True)
    (folder / "normals").mkdir()
    rng = np.random.default_rng(0)
    noise = N.load_noise()
    for scene in noise_fit.simulation_scenes(6, 48, 48, seed=300):
        name = f"{scene.seed}.png"
        Image.fromarray(noise.depth.apply(DepthCodec().encode(scene.depth), rng)).save(folder / "depth" / name)
        Image.fromarray(noise.normals.apply(N.encode_normals_scene(scene), rng)).save(folder / "normals" / name)
    out = tmp_path / "noise.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "calibration.py"), "fit-noise", "--images",
                           str(folder), "--scenes", "4", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    fitted = N.load_noise(out)
    assert fitted.notes["pictures"]["depth"] == 6 and "check" in fitted.notes
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "calibration.py"), "fit-noise", "--images",
                           str(empty), "--out", str(tmp_path / "x.json")], capture_output=True, text=True)
    assert done.returncode != 0 and "no depth pictures" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.json").exists()
    (tmp_path / "bad.json").write_text("{}")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "calibration.py"), "fit", "--noise",
                           str(tmp_path / "bad.json"), "--scenes", "1", "--out", str(tmp_path / "t.json")],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "generator noise: malformed" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "t.json").exists()
