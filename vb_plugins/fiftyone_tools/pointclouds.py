"""Depth fields -> coloured point clouds as FiftyOne 3D scenes in a grouped dataset.

For every sample with a depth label, :func:`depth_to_point_clouds` unprojects the metric depth
(:func:`vb_plugins.pointcloud.unproject`, pinhole camera from an assumed horizontal field of view),
writes ``<id>.ply`` (binary, xyz float + rgb from the image) and ``<id>.fo3d`` (a scene holding the
cloud as a ``PlyMesh`` point cloud, camera looking down -z with y up, the project's camera frame), and
adds a group to a grouped dataset: slice ``image`` (a copy of the source sample) and slice ``3d``
(the scene). Both carry ``source_id``; a re-run skips sources already converted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vb_plugins.errors import CancelledError, InputError


def _depth_of(label) -> np.ndarray:
    from vb_plugins.fiftyone_tools.labels import read_label_values

    return read_label_values(label, "depth")


def depth_to_point_clouds(samples, depth_field: str, dataset_name: str | None = None, output_dir=None, *,
                          fov: float = 60.0, max_depth: float | None = None, max_points: int | None = 200_000,
                          progress: Callable[[int, int, str], None] | None = None,
                          should_stop: Callable[[], bool] | None = None) -> dict:
    """Convert ``depth_field`` (a ``fo.Heatmap`` with metric depth, e.g. from the predict operator) of
    ``samples`` into point clouds; returns ``{"dataset", "added", "already_done", "skipped"}``.

    ``dataset_name``: the grouped dataset to create or extend (default ``<dataset>-3d``); ``output_dir``:
    where the .ply/.fo3d files go (default beside the prediction files); ``max_points``: clouds are
    subsampled evenly to at most this many points (None: all).
    """
    import fiftyone as fo
    import fiftyone.core.threed as fo3d

    from vb_plugins.io import read_rgb
    from vb_plugins.pointcloud import Intrinsics, unproject, write_ply
    from vb_plugins.predict import resize_image

    source = samples._dataset
    if depth_field not in source.get_field_schema():
        raise InputError(f"depth field {depth_field!r}: no such field on dataset {source.name!r}")
    name = dataset_name or f"{source.name}-3d"
    if name == source.name:
        raise InputError("the 3D dataset must be another dataset than the source")
    if fo.dataset_exists(name):
        target = fo.load_dataset(name)
        if target.media_type != "group":
            raise InputError(f"dataset {name!r} exists and is not a grouped dataset")
    else:
        target = fo.Dataset(name, persistent=source.persistent)
        target.add_group_field("group", default="image")
    done = set()
    if "source_id" in target.get_field_schema() and len(target):
        done = set(target.select_group_slices("3d").distinct("source_id"))
    if output_dir is None:
        from vb_plugins.fiftyone_tools.runner import default_output_dir

        output_dir = default_output_dir(source, f"{depth_field}_3d")
    directory = Path(output_dir).expanduser()
    directory.mkdir(parents=True, exist_ok=True)

    view = samples.exists(depth_field)
    ids = view.values("id")
    todo = [i for i in ids if i not in done]
    result = {"dataset": name, "added": 0, "already_done": len(ids) - len(todo), "skipped": []}
    batch: list = []
    for start in range(0, len(todo), 32):
        if should_stop and should_stop():
            result["cancelled"] = True
            break
        for sample in source.select(todo[start:start + 32], ordered=True):
            try:
                depth = _depth_of(sample[depth_field])
                height, width = depth.shape
                intrinsics = Intrinsics.from_fov(height, width, fov)
                try:
                    colours = resize_image(read_rgb(sample.filepath, exif_transpose=True), (height, width))
                except InputError:
                    colours = None
                points, picked = unproject(depth, intrinsics, colours, max_depth)
                if not len(points):
                    raise InputError("no valid depth pixels")
                if max_points and len(points) > max_points:
                    keep = np.linspace(0, len(points) - 1, max_points).astype(np.int64)
                    points, picked = points[keep], None if picked is None else picked[keep]
            except (InputError, OSError, ValueError) as error:
                result["skipped"].append({"id": sample.id, "reason": str(error)})
                continue
            stem = re.sub(r"[^A-Za-z0-9_-]", "_", sample.id)
            ply = write_ply(directory / f"{stem}.ply", points, picked,
                            [f"vb-plugins point cloud of sample {sample.id}", f"camera {intrinsics.describe()}"])
            scene = fo3d.Scene(camera=fo3d.PerspectiveCamera(up="Y", position=[0, 0, 1], look_at=[0, 0, -1]))
            scene.add(fo3d.PlyMesh("points", str(ply), is_point_cloud=True, center_geometry=False))
            scene_path = directory / f"{stem}.fo3d"
            scene.write(str(scene_path))
            group = fo.Group()
            image = fo.Sample(filepath=sample.filepath, group=group.element("image"), source_id=sample.id)
            image[depth_field] = sample[depth_field]
            cloud = fo.Sample(filepath=str(scene_path), group=group.element("3d"), source_id=sample.id,
                              points=int(len(points)), intrinsics=intrinsics.describe())
            batch += [image, cloud]
            result["added"] += 1
        if batch:
            target.add_samples(batch, progress=False)
            batch = []
        if progress:
            progress(min(start + 32, len(todo)), len(todo), f"{result['added']} point clouds")
    if result.get("cancelled") and should_stop:
        result["message"] = str(CancelledError(f"cancelled after {result['added']} point clouds"))
    return result
