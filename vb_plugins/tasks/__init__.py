"""Tasks: codec + spec validation + prompt builder, registered through the plugin hooks."""

from vb_plugins.tasks.base import Task, TaskSpec, decode_in_mode, spec_from_dict
from vb_plugins.tasks.geometry import DepthTask, NormalsTask
from vb_plugins.tasks.segmentation import InstanceTask, ReferringTask, SemanticTask


def builtin_tasks() -> list[Task]:
    return [DepthTask(), NormalsTask(), SemanticTask(), InstanceTask(), ReferringTask()]


__all__ = ["Task", "TaskSpec", "decode_in_mode", "spec_from_dict", "builtin_tasks", "DepthTask", "NormalsTask",
           "SemanticTask", "InstanceTask", "ReferringTask"]
