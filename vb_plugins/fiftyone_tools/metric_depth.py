"""Relative depth on FiftyOne samples -> metres, from a field of sparse known depths.

For each sample, :func:`vb_plugins.metric_points.metres_from_points` fits a scale and shift from the
relative-depth heatmap (``vb predict relative-depth``'s field, its ``encodes`` attribute saying inverse
depth or depth) to the known depths of another field (a depth ``fo.Heatmap``: ours, or any with a
``scale`` in PNG units per metre; 0 / NaN = unknown), and writes the metres as a depth heatmap like the
predict operator's (16-bit millimetre PNG, float32 metres in ``values_path``) with the fit's ``scale``,
``shift``, ``space`` and ``points`` as attributes (``fit_`` prefixed). Samples with fewer than 2 known
points are skipped and listed with the one-line reason. An existing output field is protected unless
``overwrite``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.labels import DEPTH_SCALE, depth_png, read_label_values
from vb_plugins.fiftyone_tools.runner import check_field_name, default_output_dir
from vb_plugins.fiftyone_tools.storage_base import _save_npy, _write_png
from vb_plugins.metric_points import metres_from_points


def _heatmap_field(dataset, name: str, what: str) -> None:
    schema = dataset.get_field_schema()
    if name not in schema:
        raise InputError(f"{what} {name!r}: no such field on dataset {dataset.name!r}")
    if getattr(getattr(schema[name], "document_type", None), "__name__", "") != "Heatmap":
        raise InputError(f"{what} {name!r}: does not hold heatmaps")


def metres_from_field(samples, relative_field: str, known_field: str, output_field: str, *,
                      known_scale: float | None = None, output_dir=None, overwrite: bool = False,
                      progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Write ``output_field`` (metric depth heatmaps) from ``relative_field`` and ``known_field`` on every
    sample of ``samples``; returns ``{"written": n, "skipped": [{"id", "reason"}], "output_dir"}``.
    ``known_scale``: PNG units per metre of the known heatmaps when their labels carry none."""
    import fiftyone as fo

    dataset = samples._dataset
    check_field_name(output_field)
    _heatmap_field(dataset, relative_field, "relative_field")
    _heatmap_field(dataset, known_field, "known_field")
    if len({relative_field, known_field, output_field}) < 3:
        raise InputError("relative_field, known_field and output_field must be three different fields")
    if output_field in dataset.get_field_schema() and not overwrite:
        raise InputError(f"field {output_field!r} already exists; choose another output field or set overwrite")
    directory = Path(output_dir).expanduser() if output_dir else default_output_dir(dataset, output_field)
    directory.mkdir(parents=True, exist_ok=True)
    written, skipped, labels = 0, [], {}
    ids = samples.values("id")
    for done, sample in enumerate(samples.select_fields([relative_field, known_field]), start=1):
        relative_label, known_label = sample[relative_field], sample[known_field]
        try:
            if relative_label is None or known_label is None:
                raise InputError(f"no {relative_field if relative_label is None else known_field} label")
            relative = read_label_values(relative_label, "relative-depth")
            known = read_label_values(known_label, "depth", known_scale)
            encodes = relative_label["encodes"] if relative_label.has_field("encodes") else "inverse"
            metres, fit = metres_from_points(relative, known, encodes, f"{known_field} of sample {sample.id}")
        except InputError as error:
            skipped.append({"id": sample.id, "reason": str(error)})
            continue
        npy, png_path = directory / f"{sample.id}.depth.npy", directory / f"{sample.id}.depth.png"
        _save_npy(npy, metres)
        png = depth_png(metres)
        _write_png(png_path, png)
        labels[sample.id] = fo.Heatmap(map_path=str(png_path), range=[0, max(int(png.max()), 1)], scale=DEPTH_SCALE,
                                       units="mm", values_path=str(npy), relative_field=relative_field,
                                       known_field=known_field, **{f"fit_{k}": v for k, v in fit.to_dict().items()})
        written += 1
        if progress:
            progress(done, len(ids), f"{done}/{len(ids)} samples")
    if labels:
        dataset.set_values(output_field, labels, key_field="id", validate=False, progress=False)
    return {"written": written, "skipped": skipped, "output_dir": str(directory)}


__all__ = ["metres_from_field"]
