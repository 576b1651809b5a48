"""An annotation backend for the tests, plugged in through FiftyOne's documented extension point (a
``config_cls`` in ``fo.annotation_config.backends``): it stands in for a remote service (CVAT, Label
Studio) and records what FiftyOne's ``annotate()`` uploads to it: the run key, the sample ids, the label
schema FiftyOne validated and the ids of the labels sent for editing.
"""

from __future__ import annotations

import fiftyone.utils.annotations as foua


class RecorderBackendConfig(foua.AnnotationBackendConfig):
    def __init__(self, name, label_schema, media_field="filepath", **kwargs):
        kwargs.pop("url", None)
        super().__init__(name, label_schema, media_field=media_field, **kwargs)


class RecorderBackend(foua.AnnotationBackend):
    uploads: list[dict] = []

    @property
    def supported_media_types(self):
        return ["image"]

    @property
    def supported_label_types(self):
        return ["segmentation", "detections", "instances"]

    @property
    def supported_scalar_types(self):
        return []

    @property
    def supported_attr_types(self):
        return ["text"]

    @property
    def supports_keyframes(self):
        return False

    @property
    def supports_video_sample_fields(self):
        return False

    @property
    def requires_label_schema(self):
        return True

    def recommend_attr_tool(self, name, value):
        return {"type": "text"}

    def requires_attr_values(self, attr_type):
        return False

    def upload_annotations(self, samples, anno_key, launch_editor=False):
        ids = samples.values("id")
        id_map = {}
        for field, info in self.config.label_schema.items():
            path = f"{field}.detections.id" if info["type"] in ("detections", "instances") else f"{field}.id"
            id_map[field] = dict(zip(ids, samples.values(path)))
        RecorderBackend.uploads.append({"anno_key": anno_key, "ids": ids, "label_schema": self.config.label_schema,
                                        "id_map": id_map, "launch_editor": launch_editor})
        return RecorderResults(samples, self.config, anno_key, id_map, backend=self)

    def download_annotations(self, results):
        return {}


class RecorderResults(foua.AnnotationResults):
    def launch_editor(self):
        pass

    def cleanup(self):
        pass
