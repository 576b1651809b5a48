"""`vb tasks`, `vb schemes`, `vb dialects`, `vb encode`, `vb decode`, `vb prompt`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from vb_plugins.cli.command import Command
from vb_plugins.cli.decode_extras import (
    add_metric_options,
    add_prompt_options,
    check_metric_options,
    check_preview_options,
    decode_preview,
    metric_depth,
    report_decoding,
    value_paths,
)
from vb_plugins.cli.options import add_task_options, task_and_spec
from vb_plugins.codecs._arrays import reads_colour
from vb_plugins.codecs._modes import lossy_suffix
from vb_plugins.errors import InputError
from vb_plugins.hookspecs import hookimpl
from vb_plugins.io import atomic_paths, describe_mode, read_image_and_mode, write_npy, write_png
from vb_plugins.registry import get_registry
from vb_plugins.tasks.base import decode_in_mode


def register(subparsers) -> None:
    for kind, command in (("task", "tasks"), ("colour scheme", "schemes"), ("prompt dialect", "dialects")):
        parser = subparsers.add_parser(command, help=f"list the registered {kind}s, one per line, name first")
        parser.set_defaults(handler=_list_handler(kind))

    encode = subparsers.add_parser("encode", help="values -> the RGB visualization a generator paints")
    encode.add_argument("task")
    encode.add_argument("input", type=Path, help="values: .npy (depth, normals) or a label/id/mask PNG")
    encode.add_argument("output", type=Path, help="RGB PNG to write")
    encode.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    add_task_options(encode)
    encode.set_defaults(handler=run_encode)

    decode = subparsers.add_parser("decode", help="a generated visualization -> values")
    decode.add_argument("task")
    decode.add_argument("input", type=Path, help="generated image (PNG, JPEG, WebP, ...)")
    decode.add_argument("output", type=Path, help="values: .npy (depth, normals) or PNG (labels, ids, masks)")
    decode.add_argument("--confidence", type=Path,
                        help="also write the per-pixel reliability (.npy float32, 0..1: the calibrated probability "
                             "that the pixel was read within the task's tolerance)")
    decode.add_argument("--expected-error", type=Path,
                        help="also write the per-pixel expected error (.npy float32; depth: metres, normals: degrees)")
    decode.add_argument("--mode", choices=("auto", "exact", "robust"), default="auto",
                        help="exact: every pixel on its own (lossless PNGs); robust: read compressed, noisy or "
                             "colour-cast images (JPEG, WebP, generator output); auto (default): robust for "
                             ".jpg/.jpeg/.webp inputs, else decided from the image")
    decode.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_task_options(decode)
    add_prompt_options(decode)
    add_metric_options(decode)
    decode.set_defaults(handler=run_decode)

    prompt = subparsers.add_parser("prompt", help="print the prompt for a task")
    prompt.add_argument("task")
    prompt.add_argument("--dialect", help="prompt dialect (see `vb dialects`; default: vision-banana)")
    add_task_options(prompt)
    prompt.set_defaults(handler=run_prompt)


def _list_handler(kind: str):
    def handler(args) -> int:
        registry = get_registry()
        for name, (obj, _origin) in registry.table(kind).items():
            description = getattr(obj, "description", "")
            print(f"{name}\t{description}" if description else name)
        for error in registry.load_errors:
            print(f"warning: {error}", file=sys.stderr)
        return 0

    return handler


def _check_output(path: Path, suffixes, overwrite: bool, what: str) -> None:
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: {what} are written as {' or '.join(suffixes)}")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name")
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.is_dir():
        raise InputError(f"{path}: directory {path.parent} does not exist")


def _check_distinct(paths: dict[str, Path]) -> None:
    """Refuse two arguments naming one file (``--confidence`` equal to OUTPUT, or OUTPUT equal to INPUT)."""
    seen: dict[str, str] = {}
    for option, path in paths.items():
        key = os.path.normcase(os.path.realpath(path))
        if key in seen:
            raise InputError(f"{path}: {option} and {seen[key]} name the same file; give each its own path")
        seen[key] = option


def run_encode(args) -> int:
    task, spec = task_and_spec(args)
    _check_output(args.output, (".png",), args.overwrite, "visualizations")
    _check_distinct({"INPUT": args.input, "OUTPUT": args.output})
    if args.input.suffix.lower() not in task.value_suffixes:
        raise InputError(f"{args.input}: {task.name} values are read from {' or '.join(task.value_suffixes)}")
    values = task.load_values(args.input, spec)
    try:
        rgb = task.encode(values, spec)
    except InputError as error:
        raise InputError(f"{args.input}: {error}") from None
    write_png(args.output, rgb, overwrite=args.overwrite)
    return 0


def decode_file(task, spec, path: Path, mode: str = "auto"):
    """Decode the visualization in image file ``path``; errors name the file.

    A gray file (8-bit, 1-bit, gray with alpha, 16-bit, float) is refused by tasks that read a colour
    code (depth, normals), naming its mode; segmentation reads its grays as colours.
    """
    image, file_mode = read_image_and_mode(path)
    if image.ndim == 2:
        if reads_colour(task, spec):
            raise InputError(f"{path}: {task.name} decoding needs a colour (RGB) image; the file is "
                             f"{describe_mode(file_mode)}")
        image = np.repeat(image[..., None], 3, axis=2)
    mode = "robust" if mode == "auto" and lossy_suffix(path) else mode
    try:
        return decode_in_mode(task, image, spec, mode)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def run_decode(args) -> int:
    task, spec = task_and_spec(args)
    _check_output(args.output, task.value_suffixes, args.overwrite, f"{task.name} values")
    outputs = {"OUTPUT": args.output}
    if args.confidence is not None:
        _check_output(args.confidence, (".npy",), args.overwrite, "confidences")
        outputs["--confidence"] = args.confidence
    if args.expected_error is not None:
        _check_output(args.expected_error, (".npy",), args.overwrite, "expected errors")
        outputs["--expected-error"] = args.expected_error
    if args.preview is not None:
        _check_output(args.preview, (".png",), args.overwrite, "previews")
        outputs["--preview"] = args.preview
    check_preview_options(args)
    check_metric_options(args, task)
    if args.metres is not None:
        _check_output(args.metres, (".npy",), args.overwrite, "metres")
        outputs["--metres"] = args.metres
    values = value_paths(task, spec, args.output)  # one mask per object when a prompt names several
    for extra in values[1:]:
        _check_output(extra, task.value_suffixes, args.overwrite, f"{task.name} values")
    _check_distinct({"INPUT": args.input, **outputs, **{f"OUTPUT ({p.name})": p for p in values[1:]}})
    decoding = decode_file(task, spec, args.input, args.mode)
    if args.expected_error is not None and decoding.expected_error is None:
        raise InputError(f"--expected-error: {task.name} decodings have no error in units (depth and normals do)")
    preview = decode_preview(args, task, decoding, spec)  # drawn before anything is written
    metric = metric_depth(args, spec, decoding)  # fitted (or refused) before anything is written
    # Every output goes to a temporary file first; they replace the targets only once all are written,
    # so a failure (a full disk on the last file) leaves the old outputs as they were.
    targets = values + [path for option, path in outputs.items() if option != "OUTPUT"]
    with atomic_paths(targets, overwrite=args.overwrite) as temps:
        written = dict(zip(map(str, targets), temps))
        if len(values) > 1:
            labels = np.asarray(decoding.values)
            for k, path in enumerate(values, start=1):
                write_png(written[str(path)], ((labels == k) * 255).astype(np.uint8), overwrite=True)
        else:
            task.save_values(decoding, written[str(args.output)], spec, overwrite=True)
        if args.confidence is not None:
            write_npy(written[str(args.confidence)], np.asarray(decoding.confidence, dtype=np.float32),
                      overwrite=True)
        if args.expected_error is not None:
            write_npy(written[str(args.expected_error)], np.asarray(decoding.expected_error, dtype=np.float32),
                      overwrite=True)
        if preview is not None:
            preview.save(written[str(args.preview)], overwrite=True)
        if metric is not None:
            write_npy(written[str(args.metres)], metric[0], overwrite=True)
    report_decoding(task, spec, decoding, args.output)
    if metric is not None:
        fit = metric[1]
        print(f"{args.metres}: metres = {'1 / ' if fit.space == 'inverse-depth' else ''}({fit.scale:.6g} * relative "
              f"{'+' if fit.shift >= 0 else '-'} {abs(fit.shift):.6g}) from {fit.points} known points "
              f"(rms {fit.rms:.3g} in {fit.space})")
    return 0


def run_prompt(args) -> int:
    task, spec = task_and_spec(args)
    print(task.prompt(spec, args.dialect))
    return 0


@hookimpl
def vb_commands():
    return [Command("tasks", register)]
