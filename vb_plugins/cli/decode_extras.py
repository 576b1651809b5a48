"""`vb decode` options beyond the codec: the legend read from a prompt, a readable preview, and what was
matched to colour words."""

from __future__ import annotations

from pathlib import Path

from vb_plugins.codecs.referring_objects import object_paths
from vb_plugins.errors import InputError
from vb_plugins.previews import preview_for


def add_prompt_options(parser) -> None:
    group = parser.add_argument_group("prompt and preview")
    group.add_argument("--prompt", help="the prompt the image was generated with: the legend (classes and colours, "
                                        "background, referring objects, depth scheme) is read from it; instead of "
                                        "--classes/--expression/--colour/--background/--scheme")
    group.add_argument("--preview", type=Path, metavar="PNG",
                       help="also write a readable picture: depth with a colour bar in metres, labels with a "
                            "legend of class names, normals with a key")
    group.add_argument("--preview-range", metavar="NEAR,FAR",
                       help="fixed depth range of the preview in metres (default: this image's 2nd-98th percentile)")


def _preview_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        near, far = (float(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--preview-range {text!r}: expected NEAR,FAR in metres, e.g. 0.5,20") from None
    if not 0 < near < far < float("inf"):
        raise InputError(f"--preview-range {text!r}: expected 0 < NEAR < FAR")
    return near, far


def check_preview_options(args) -> None:
    """Refuse bad preview options before any work."""
    if _preview_range(args.preview_range) is not None and args.preview is None:
        raise InputError("--preview-range: needs --preview")


def decode_preview(args, task, decoding, spec):
    """The :class:`vb_plugins.previews.Preview` asked for with --preview, or None."""
    if args.preview is None:
        return None
    return preview_for(task, decoding, spec, _preview_range(args.preview_range))


def value_paths(task, spec, output: Path) -> list[Path]:
    """Every file ``task.save_values`` writes for ``output`` (one mask per object for several objects)."""
    if task.name == "referring" and spec is not None and spec.classes:
        return object_paths(output, len(spec.classes))
    return [output]


def report_decoding(task, spec, decoding, output: Path) -> None:
    """Print what a reader needs beyond the files: which file holds which object, and the colour words
    that were matched to a painted colour other than their nominal one."""
    paths = value_paths(task, spec, output)
    if len(paths) > 1:
        for path, name in zip(paths, spec.class_names):
            print(f"{path}: {name}")
    for key, match in (getattr(decoding, "matched", None) or {}).items():
        if isinstance(match.get("given"), str) and match["decoded_as"] != match["nominal"]:
            print(f"{key}: {match['given']!r} matched the painted colour {tuple(match['painted'])} "
                  f"(nominal {tuple(match['nominal'])})")
