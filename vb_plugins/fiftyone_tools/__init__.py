"""FiftyOne support: predictions as native FiftyOne labels, for the plugin's operators and for code.

Importing this package does not import FiftyOne; each function imports it when called.

    >>> from vb_plugins.fiftyone_tools import predict_collection
    >>> summary = predict_collection(dataset.view(), "depth", "depth")      # fo.Heatmap per sample
    >>> from vb_plugins.fiftyone_tools import VBModel
    >>> dataset.apply_model(VBModel("semantic", classes="road, car, sky"), label_field="seg")

Storage (see :mod:`vb_plugins.fiftyone_tools.labels`): large arrays go to files under an output
directory (``map_path`` / ``mask_path``), never into the database.
"""

from __future__ import annotations

_EXPORTS = {
    "predict_collection": "vb_plugins.fiftyone_tools.runner",
    "PredictRun": "vb_plugins.fiftyone_tools.runner",
    "default_output_dir": "vb_plugins.fiftyone_tools.runner",
    "LabelWriter": "vb_plugins.fiftyone_tools.labels",
    "read_label_values": "vb_plugins.fiftyone_tools.labels",
    "VBModel": "vb_plugins.fiftyone_tools.model",
    "evaluate_fields": "vb_plugins.fiftyone_tools.evaluate",
    "depth_to_point_clouds": "vb_plugins.fiftyone_tools.pointclouds",
    "start_private_mongod": "vb_plugins.fiftyone_tools.database",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)  # noqa: PLE0605 (names resolved lazily by __getattr__)
