"""What every node module of the pack shares: the menu category, the custom socket types and the
``validate_inputs`` check runner. Imported only inside ComfyUI."""

from __future__ import annotations

from comfy_api.latest import io

from vb_plugins.errors import VBError

CATEGORY = "vb-plugins"

VBSpec = io.Custom("VB_SPEC")
VBDepth = io.Custom("VB_DEPTH")
VBNormals = io.Custom("VB_NORMALS")
VBLabels = io.Custom("VB_LABELS")
VBValues = io.Custom("VB_VALUES")
VBRelativeDepth = io.Custom("VB_RELATIVE_DEPTH")
VBGenerator = io.Custom("VB_GENERATOR")


def checked(check, *args, **kwargs):
    """Run a check for ``validate_inputs``: True, or the error's one-line message."""
    try:
        check(*args, **kwargs)
    except VBError as error:
        return str(error)
    return True
