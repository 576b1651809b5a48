"""Procedural 3D scenes for synthetic training data: descriptions, random layouts, a torch ray caster.

The public entry points live in :mod:`vb_plugins.training.synthetic`.
"""

from vb_plugins.training.scenes.spec import (
    SCENE_KINDS,
    SEMANTIC_CLASSES,
    STUFF_CLASSES,
    TEXTURES,
    Box,
    Camera,
    Cylinder,
    Lighting,
    Material,
    Plane,
    SceneSpec,
    Sphere,
    class_id,
)

__all__ = [
    "SCENE_KINDS", "SEMANTIC_CLASSES", "STUFF_CLASSES", "TEXTURES", "Box", "Camera", "Cylinder", "Lighting",
    "Material", "Plane", "SceneSpec", "Sphere", "class_id",
]
