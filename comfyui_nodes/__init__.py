"""vb-plugins nodes for ComfyUI: metric depth, normals and masks from generated images.

ComfyUI loads this folder from ``custom_nodes/`` (``vb comfyui install`` links it there). Inside
ComfyUI the nodes register through ``comfy_entrypoint`` (the schema API, ComfyUI >= 0.3.48); a host
whose loader does not call ``comfy_entrypoint`` gets the classic ``NODE_CLASS_MAPPINGS`` instead
(a loader that finds that mapping ignores the entry point, so both are never exported together).

Outside ComfyUI (unit tests, scripts) importing the package loads nothing from ComfyUI: the node
logic lives in ComfyUI-free modules (:mod:`.operations`, :mod:`.decoding`, ...).
"""

import inspect

from .core_import import ensure_core

ensure_core()


def _in_comfyui() -> bool:
    try:
        import comfy_api.latest  # noqa: F401
        import folder_paths  # noqa: F401
    except ImportError:
        return False
    return True


def _loader_calls_entrypoint() -> bool:
    """Whether the host's custom-node loader knows ``comfy_entrypoint`` (read from its source)."""
    try:
        import nodes

        return "comfy_entrypoint" in inspect.getsource(nodes.load_custom_node)
    except (ImportError, AttributeError, OSError, TypeError):
        return True  # comfy_api.latest and comfy_entrypoint arrived together (v0.3.48)


if _in_comfyui():
    from .schema_nodes import NODES, comfy_entrypoint  # noqa: F401

    if not _loader_calls_entrypoint():
        NODE_CLASS_MAPPINGS = {node.GET_SCHEMA().node_id: node for node in NODES}
        NODE_DISPLAY_NAME_MAPPINGS = {node.GET_SCHEMA().node_id: node.GET_SCHEMA().display_name for node in NODES}
