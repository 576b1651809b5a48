"""`vb profiles [NAME] [--json]`: the model profiles, their tasks and what the model paints for each."""

from __future__ import annotations

import json

from vb_plugins.cli.command import Command
from vb_plugins.cli.options import key_values
from vb_plugins.hookspecs import hookimpl
from vb_plugins.profiles import DEFAULT_PROFILE, Profile, get_profile, list_profiles, read_profile_file
from vb_plugins.profiles.resolve import apply_overrides, is_profile_file


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "profiles", help="list the model profiles: per task, what the model paints and how it is decoded",
        description="A profile says, per task, how to ask a checkpoint (prompt) and how to read what it paints "
                    "(the decoding task and its options), with its generation defaults. `vb predict --profile "
                    "NAME` picks one; a Hub id or a vb_profile.json in the model folder picks it by itself. "
                    "With --json a profile prints in the form a profile file takes (start a file with "
                    "{\"extends\": NAME} and the fields to change).")
    parser.add_argument("name", nargs="?", help="one profile (a name, or a JSON profile file to check)")
    parser.add_argument("--json", action="store_true", help="print the profile(s) as JSON")
    parser.add_argument("--profile-override", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="show NAME with this field changed (as vb predict takes it)")
    parser.set_defaults(handler=run_profiles)


def describe(profile: Profile) -> list[str]:
    """A profile as `vb profiles` prints it: a line naming it, one about its checkpoint, one per task."""
    default = " (default)" if profile.name == DEFAULT_PROFILE else ""
    lines = [f"{profile.name}{default}: {profile.description}",
             f"  base model: {profile.base_model or '-'}; licence: {profile.licence}; "
             f"hub ids: {', '.join(profile.hub_ids) or '-'}"]
    defaults = profile.defaults
    shown = [f"{k} {getattr(defaults, k)}" for k in ("steps", "guidance", "megapixels") if getattr(defaults, k)]
    if defaults.size:
        shown.append(f"size {defaults.size[1]}x{defaults.size[0]}")
    if shown or profile.weights.base:
        weights = f"; weights: {profile.weights.kind} in {profile.weights.naming} naming on {profile.weights.base}" \
            if profile.weights.base else ""
        family = "the model family's"
        lines.append(f"  defaults: {', '.join(shown) or family}{weights}")
    width = max([len(t.task) for t in profile.tasks] + [8])
    for entry in profile.tasks:
        decoded = [f"as {entry.decode_as}"] if entry.decode_as != entry.task else []
        if entry.options:
            decoded.append("with " + ", ".join(f"{k}={json.dumps(v)}" for k, v in entry.options))
        how = f" [decoded {' '.join(decoded)}]" if decoded else ""
        lines.append(f"  {entry.task:<{width}}  {entry.paints or '-'}{how}")
    if profile.other_tasks:
        lines.append(f"  {'(others)':<{width}}  any other registered task, painted as its own encoding")
    return lines


def run_profiles(args) -> int:
    if args.name:
        profile = read_profile_file(args.name) if is_profile_file(args.name) else get_profile(args.name)
        profiles = [apply_overrides(profile, key_values(args.overrides, "--profile-override"))]
    else:
        profiles = [get_profile(name) for name in list_profiles()]
    if args.json:
        data = [p.to_dict() for p in profiles]
        print(json.dumps(data[0] if args.name else data, indent=2, ensure_ascii=False))
        return 0
    for profile in profiles:
        print("\n".join(describe(profile)))
    return 0


@hookimpl
def vb_commands():
    return [Command("profiles", register)]
