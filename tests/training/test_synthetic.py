import math

import numpy as np
import pytest

from vb_plugins.errors import InputError
from vb_plugins.training.scenes import (
    STUFF_CLASSES,
    Box,
    Camera,
    Cylinder,
    Lighting,
    Material,
    Plane,
    SceneSpec,
    Sphere,
)
from vb_plugins.training.synthetic import (
    SEMANTIC_CLASSES,
    render_scene,
    render_scenes,
    render_specs,
    sample_scene,
    unproject,
)

H, W = 48, 64
STUFF_IDS = {SEMANTIC_CLASSES.index(name) for name in STUFF_CLASSES}
GREY = Material(base=(0.5, 0.5, 0.5))
SUN = Lighting(ambient=(0.2, 0.2, 0.2), light=(0.3, 1.0, 0.5), light_color=(1.0, 1.0, 1.0))


SEEDS = [0, 1, 2, 5, 6, 11]


@pytest.fixture(scope="module")
def mixed():
    """Rooms and outdoor scenes (rendered one by one on CPU)."""
    return render_scenes(SEEDS, H, W)


def spec(*prims, camera=None, lighting=SUN, kind="test"):
    camera = camera or Camera.look_at((0, 0, 0), (0, 0, -1), 60.0)
    return SceneSpec(kind, camera, tuple(prims), lighting)


def pixel_rays(K, h, w):
    """Unnormalised camera-frame ray directions (x right, y up, z back) with forward component 1."""
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([(u - K[0, 2]) / K[0, 0], -(v - K[1, 2]) / K[1, 1], -np.ones_like(u)], -1)


def test_same_seed_gives_the_same_arrays():
    a, b = render_scene(3, H, W), render_scene(3, H, W)
    for name in ("image", "depth", "normals", "valid", "semantic", "instance", "intrinsics"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.seed, a.kind) == (b.seed, b.kind)
    assert not np.array_equal(render_scene(4, H, W).image, a.image)


def test_batch_equals_individual_renders(mixed):
    # One vectorised pass over all scenes (padded tables: the GPU default) == scene by scene.
    batched = render_scenes(SEEDS, H, W, group=len(SEEDS))
    assert render_scene(SEEDS[2], H, W).image.tobytes() == mixed[2].image.tobytes()
    for scene, alone in zip(batched, mixed):
        for name in ("image", "depth", "normals", "valid", "semantic", "instance"):
            assert np.array_equal(getattr(scene, name), getattr(alone, name)), (scene.seed, name)


def test_kind_override_keeps_the_scene_of_the_seed():
    drawn = sample_scene(5)
    assert sample_scene(5, drawn.kind) == drawn
    assert sample_scene(5, "room").kind == "room" and sample_scene(5, "outdoor").kind == "outdoor"


def test_fronto_parallel_plane_has_constant_depth_and_facing_normal():
    wall = Plane((0, 0, 1), -3.0, GREY, SEMANTIC_CLASSES.index("wall"))
    scene = render_specs([spec(wall)], H, W)[0]
    assert scene.valid.all()
    np.testing.assert_allclose(scene.depth, 3.0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(scene.normals, np.broadcast_to([0, 0, 1], (H, W, 3)), atol=1e-6)
    assert (scene.semantic == SEMANTIC_CLASSES.index("wall")).all() and (scene.instance == 0).all()
    # Unprojecting with K gives points on the plane z = -3 (camera frame = world frame here).
    np.testing.assert_allclose(unproject(scene.depth, scene.intrinsics)[..., 2], -3.0, atol=1e-6)


def test_tilted_plane_depth_matches_ray_plane_geometry():
    n = np.array([0.3, 0.5, 0.8])
    n /= np.linalg.norm(n)
    floor = Plane(tuple(n), -2.5, GREY, SEMANTIC_CLASSES.index("floor"))
    scene = render_specs([spec(floor)], H, W)[0]
    d = pixel_rays(scene.intrinsics, H, W)
    t = -2.5 / (d @ n)
    expected = np.where(t > 0, t, np.inf)
    np.testing.assert_array_equal(np.isfinite(scene.depth), np.isfinite(expected))
    ok = np.isfinite(expected)
    np.testing.assert_allclose(scene.depth[ok], expected[ok], rtol=2e-6)
    np.testing.assert_allclose(scene.normals[ok], np.broadcast_to(n, (H, W, 3))[ok], atol=1e-6)


def test_sphere_depth_normals_and_centre_pixel():
    h = w = 33  # odd: the centre pixel lies on the optical axis
    ball = Sphere((0.0, 0.0, -5.0), 1.0, GREY, instance=1)
    scene = render_specs([spec(ball)], h, w)[0]
    assert scene.depth[16, 16] == pytest.approx(4.0, abs=1e-6)
    np.testing.assert_allclose(scene.normals[16, 16], [0, 0, 1], atol=1e-6)
    # Analytic ray-sphere depth (float64) for every pixel.
    d = pixel_rays(scene.intrinsics, h, w)
    c = np.array([0.0, 0.0, -5.0])
    a, b, cc = (d * d).sum(-1), -(d @ c), c @ c - 1.0
    disc = b * b - a * cc
    hit = disc >= 0
    t = np.where(hit, (-b - np.sqrt(np.where(hit, disc, 0))) / a, np.inf)
    safe = hit & (np.abs(disc) > 1e-4)  # away from the silhouette, where float32 may round either way
    assert np.array_equal(scene.valid[safe], hit[safe])
    np.testing.assert_allclose(scene.depth[safe & hit], t[safe & hit], rtol=1e-5)
    expected_n = d * t[..., None] - c
    np.testing.assert_allclose(scene.normals[safe & hit], expected_n[safe & hit], atol=1e-4)
    assert set(np.unique(scene.instance)) == {0, 1}
    assert (scene.semantic[scene.valid] == SEMANTIC_CLASSES.index("sphere")).all()


def test_box_and_cylinder_front_faces():
    h = w = 33
    box = Box((0.0, 0.0, -6.0), (1.0, 1.0, 0.5), GREY, instance=1)
    cyl = Cylinder((0.0, -1.0, -4.0), 0.5, 2.0, GREY, instance=1)
    boxed, can = render_specs([spec(box), spec(cyl)], h, w)
    assert boxed.depth[16, 16] == pytest.approx(5.5, abs=1e-6)
    np.testing.assert_allclose(boxed.normals[16, 16], [0, 0, 1], atol=1e-6)
    assert can.depth[16, 16] == pytest.approx(3.5, abs=1e-6)
    np.testing.assert_allclose(can.normals[16, 16], [0, 0, 1], atol=1e-6)
    # Along the middle row the cylinder normal turns sideways, horizontally.
    row = can.normals[16][can.valid[16]]
    assert np.abs(row[:, 1]).max() < 1e-6 and row[0, 0] < -0.3 and row[-1, 0] > 0.3


def test_a_scene_without_primitives_is_all_sky():
    sky = Lighting(ambient=(0.2, 0.2, 0.2), light=(0, 1, 0), light_color=(1, 1, 1),
                   sky_zenith=(0.2, 0.3, 0.8), sky_horizon=(0.7, 0.8, 0.9))
    scene = render_specs([spec(lighting=sky)], 16, 16)[0]
    assert not scene.valid.any() and np.isinf(scene.depth).all() and (scene.semantic == 0).all()
    assert scene.image[0].mean() < scene.image[-1].mean()  # darker zenith above, bright horizon below


def test_camera_frame_follows_the_camera():
    # Looking straight down at a floor from 2 m: depth 2 at the centre, the floor normal points back
    # at the camera (+z in the camera frame).
    cam = Camera.look_at((0, 2, 0), (0, 0, 0), 70.0, up=(0, 0, -1))
    floor = Plane((0, 1, 0), 0.0, GREY, SEMANTIC_CLASSES.index("floor"))
    scene = render_specs([spec(floor, camera=cam)], 33, 33)[0]
    np.testing.assert_allclose(scene.depth, 2.0, atol=1e-6)
    np.testing.assert_allclose(scene.normals[16, 16], [0, 0, 1], atol=1e-6)
    assert scene.fov_x_deg == 70.0 and scene.fov_y_deg == pytest.approx(70.0)
    np.testing.assert_allclose(scene.camera_to_world[:3, 3], [0, 2, 0])


def test_normals_are_unit_where_valid_and_zero_elsewhere(mixed):
    for scene in mixed:
        length = np.linalg.norm(scene.normals, axis=-1)
        np.testing.assert_allclose(length[scene.valid], 1.0, atol=1e-5)
        assert (scene.normals[~scene.valid] == 0).all()
        assert scene.image.dtype == np.uint8 and scene.image.shape == (H, W, 3)
        assert scene.depth.dtype == np.float32 and scene.normals.dtype == np.float32
        assert scene.semantic.dtype == np.uint8 and scene.instance.dtype == np.int32


def test_finite_difference_normals_of_the_unprojected_depth_agree_on_planar_regions(mixed):
    checked = 0
    for scene in mixed:
        p = unproject(scene.depth, scene.intrinsics).astype(np.float64)
        p[~scene.valid] = 0.0  # sky: no point; such pixels are not planar below
        du = p[1:-1, 2:] - p[1:-1, :-2]
        dv = p[:-2, 1:-1] - p[2:, 1:-1]  # towards the top of the image
        fd = np.cross(du, dv)
        fd /= np.linalg.norm(fd, axis=-1, keepdims=True) + 1e-12
        gt = scene.normals
        core = gt[1:-1, 1:-1]
        # Planar: the 3x3 neighbourhood has one normal and one label.
        flat = scene.valid[1:-1, 1:-1].copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                nb = (slice(1 + dy, H - 1 + dy), slice(1 + dx, W - 1 + dx))
                flat &= np.abs(gt[nb] - core).max(-1) < 1e-4
                flat &= scene.semantic[nb] == scene.semantic[1:-1, 1:-1]
                flat &= scene.instance[nb] == scene.instance[1:-1, 1:-1]
        angle = np.degrees(np.arccos(np.clip((fd * core).sum(-1), -1, 1)))[flat]
        assert angle.size > 100
        assert np.percentile(angle, 99) < 3.0 and np.median(angle) < 0.5
        checked += 1
    assert checked == len(mixed)


def test_semantic_and_instance_ids_are_consistent(mixed):
    for scene in mixed:
        assert scene.semantic.max() < len(SEMANTIC_CLASSES)
        stuff = np.isin(scene.semantic, list(STUFF_IDS))
        assert (scene.instance[stuff] == 0).all() and (scene.instance[~stuff] > 0).all()
        for inst in np.unique(scene.instance[scene.instance > 0]):
            classes = np.unique(scene.semantic[scene.instance == inst])
            assert classes.tolist() == [scene.instance_classes[int(inst)]]
        assert all(sem not in STUFF_IDS for sem in scene.instance_classes.values())


def test_sky_is_inf_outdoors_and_rooms_are_closed(mixed):
    kinds = {s.kind for s in mixed}
    assert kinds == {"room", "outdoor"}
    for scene in mixed:
        sky = ~scene.valid
        assert np.array_equal(sky, np.isinf(scene.depth))
        assert (scene.semantic[sky] == 0).all() and not np.isnan(scene.depth).any()
        finite = scene.depth[scene.valid]
        if scene.kind == "room":
            assert not sky.any()
            assert finite.min() > 0.05 and finite.max() < 15.0
        else:
            assert sky.any() and finite.max() <= 81.0
            assert (scene.semantic[scene.valid] != 0).all()


def test_depth_ranges_over_many_scenes():
    rooms = render_scenes(range(100, 106), 24, 24, kind="room", supersample=1)
    outdoor = render_scenes(range(100, 106), 24, 24, kind="outdoor", supersample=1)
    assert max(s.depth.max() for s in rooms) < 15.0
    assert max(s.depth[s.valid].max() for s in outdoor) > 20.0


def test_intrinsics_are_centred_pinhole():
    scene = render_scene(1, 30, 40)
    K = scene.intrinsics
    assert K[0, 0] == K[1, 1] and K[0, 2] == 19.5 and K[1, 2] == 14.5
    assert K[0, 0] == pytest.approx(20.0 / math.tan(math.radians(scene.fov_x_deg) / 2))


@pytest.mark.parametrize("call", [
    lambda: render_scene(-1, H, W),
    lambda: render_scene(1.5, H, W),
    lambda: render_scene(1, H, W, kind="cave"),
    lambda: render_scene(1, 0, W),
    lambda: render_scene(1, H, W, supersample=0),
    lambda: render_specs(["not a spec"], H, W),
    lambda: render_scenes([1], H, W, group=0),
    lambda: Sphere((0, 0, 0), -1.0, GREY),
    lambda: Box((0, 0, 0), (1, 0, 1), GREY),
    lambda: Material(base=(1, 1, 1), texture="marble"),
])
def test_bad_input_raises_input_error(call):
    with pytest.raises(InputError):
        call()
