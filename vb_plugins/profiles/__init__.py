"""Model profiles: what a checkpoint paints for each task and how to ask it (see :mod:`.model`), the
built-in ones (:mod:`.builtin`, registered through the ``vb_profiles`` hook) and how a run picks one
(:mod:`.resolve`)."""

from vb_plugins.profiles.model import DEFAULT_PROFILE, Defaults, Profile, TaskProfile, Weights
from vb_plugins.profiles.resolve import (
    PROFILE_FILE,
    apply_overrides,
    detect_profile,
    get_profile,
    list_profiles,
    read_profile_file,
    resolve_profile,
)

__all__ = ["Profile", "TaskProfile", "Defaults", "Weights", "DEFAULT_PROFILE", "PROFILE_FILE", "get_profile",
           "list_profiles", "read_profile_file", "apply_overrides", "detect_profile", "resolve_profile"]
