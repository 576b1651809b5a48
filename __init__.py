"""ComfyUI entry point for an install of the whole repository into ``custom_nodes/`` (what the Comfy
registry and ComfyUI-Manager do): the node pack itself is ``comfyui_nodes/``; this re-exports it.
Not part of the Python package (that is ``vb_plugins``)."""

if __package__:  # imported as a package (ComfyUI's loader); test runners may import this file on its own
    from .comfyui_nodes import *  # noqa: F403 (comfy_entrypoint, or NODE_CLASS_MAPPINGS on older hosts)
