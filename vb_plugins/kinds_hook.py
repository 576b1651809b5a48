"""Registers the built-in value kinds (:func:`vb_plugins.kinds.builtin_value_kinds`) through ``vb_value_kinds``.

Until ``vb_plugins.kinds`` exists (branch i24-core) this module registers nothing for that hook; the merge
replaces the guard with a plain import.
"""

import importlib.util

from vb_plugins.hookspecs import hookimpl

if importlib.util.find_spec("vb_plugins.kinds") is not None:
    from vb_plugins.kinds import builtin_value_kinds

    @hookimpl
    def vb_value_kinds():
        return builtin_value_kinds()
