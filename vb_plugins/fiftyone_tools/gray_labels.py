"""FiftyOne storage of the grayscale tasks: relative depth and alpha mattes.

==============  ==================================================================================
relative-depth  ``F``: ``fo.Heatmap(map_path=ID.relative-depth.png, range=[lo, hi])``: a 16-bit PNG of the
                values times 65535 (NaN -> 0), ``range`` the sample's own smallest and largest PNG value,
                ``scale`` = 65535 (PNG units per unit), ``units`` = "relative", and the attributes
                ``relative`` = True, ``encodes`` ("inverse" or "depth") and ``meaning`` (e.g. "relative
                inverse depth, 1 = nearest (unitless, not metres)"); exact float32 values in
                ``values_path`` (ID.relative-depth.npy). The field's description says the same.
alpha           ``F``: ``fo.Heatmap(map_path=ID.matting.png, range=[0, 65535])``, ``scale`` = 65535,
  (matting)     ``units`` = "alpha", float32 values in ``values_path``; with the task option ``threshold``
                t > 0 also ``F_mask``: ``fo.Segmentation(mask_path=ID.matting-mask.png)``, 1 where
                alpha > t (``mask_targets[F_mask]`` = {1: "foreground"}), its ``threshold`` attribute t.
==============  ==================================================================================
"""

from __future__ import annotations

import numpy as np

from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.storage_base import UINT16_MAX, Storage, _has, _read_media, _save_npy, _write_png
from vb_plugins.io import load_npy

GRAY_SCALE = float(UINT16_MAX)  # PNG units per unit of a [0, 1] value


def unit_png(values: np.ndarray) -> np.ndarray:
    """[0, 1] values -> uint16 PNG units (values * 65535, rounded); NaN -> 0."""
    values = np.asarray(values, dtype=np.float64)
    return np.clip(np.rint(np.nan_to_num(values, nan=0.0) * GRAY_SCALE), 0, UINT16_MAX).astype(np.uint16)


class _UnitHeatmap(Storage):
    """[0, 1] values as a 16-bit heatmap with its exact floats beside it."""

    field_type = "Heatmap"
    units = ""

    def write_heatmap(self, writer, prediction, sample_id, own_range: bool, **attributes):
        import fiftyone as fo

        values = np.asarray(prediction.values, dtype=np.float32)
        npy = writer.path(sample_id, f"{writer.task.name}.npy")
        _save_npy(npy, values)
        png = unit_png(values)
        path = writer.path(sample_id, f"{writer.task.name}.png")
        _write_png(path, png)
        low, high = (int(png.min()), int(png.max())) if own_range and png.size else (0, UINT16_MAX)
        if high <= low:
            low, high = max(0, min(low, UINT16_MAX - 1)), max(low + 1, high)
        return fo.Heatmap(map_path=str(path), range=[low, high], scale=GRAY_SCALE, units=self.units,
                          values_path=str(npy), **attributes)

    def read(self, label, scale=None):
        path = getattr(label, "values_path", None) if _has(label, "values_path") else None
        if path:
            return load_npy(path).astype(np.float32)
        array = _read_media(label, "map_path", label.get_map) if hasattr(label, "get_map") else None
        if array is None:
            raise InputError(f"heatmap {label.id}: has neither a map nor a map_path")
        factor = scale or (label["scale"] if _has(label, "scale") else GRAY_SCALE)
        return array.astype(np.float32) / float(factor)


class RelativeDepthStorage(_UnitHeatmap):
    units = "relative"

    def main(self, writer, prediction, sample_id, values):
        spec = writer.spec
        return self.write_heatmap(writer, prediction, sample_id, True, relative=True,
                                  encodes=spec.option("encodes", "inverse"), meaning=writer.task.meaning(spec))

    def field_descriptions(self, writer):
        return {writer.field: f"vb-plugins: {writer.task.meaning(writer.spec)}; the map is the value times 65535 "
                              "(label scale), exact floats in values_path"}


class AlphaStorage(_UnitHeatmap):
    units = "alpha"

    def _mask_field(self, writer) -> str | None:
        return f"{writer.field}_mask" if writer.spec.option("threshold", 0.0) else None

    def main(self, writer, prediction, sample_id, values):
        import fiftyone as fo

        label = self.write_heatmap(writer, prediction, sample_id, False)
        mask_field = self._mask_field(writer)
        if mask_field:
            threshold = float(writer.spec.option("threshold"))
            path = writer.path(sample_id, f"{writer.task.name}-mask.png")
            _write_png(path, (np.asarray(prediction.values, dtype=np.float32) > threshold).astype(np.uint8))
            values[mask_field] = fo.Segmentation(mask_path=str(path), threshold=threshold)
        return label

    def side_fields(self, writer):
        mask_field = self._mask_field(writer)
        return {mask_field: "Segmentation"} if mask_field else {}

    def side_mask_targets(self, writer):
        mask_field = self._mask_field(writer)
        return {mask_field: {1: "foreground"}} if mask_field else {}

    def field_descriptions(self, writer):
        described = {writer.field: "vb-plugins: alpha matte, 0 = background, 1 = foreground; the map is alpha "
                                   "times 65535 (label scale), exact floats in values_path"}
        mask_field = self._mask_field(writer)
        if mask_field:
            described[mask_field] = (f"vb-plugins: foreground where the alpha of {writer.field} is above "
                                     f"{writer.spec.option('threshold'):g}")
        return described


__all__ = ["RelativeDepthStorage", "AlphaStorage", "unit_png", "GRAY_SCALE"]
