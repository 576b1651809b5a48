"""`vb tasks`, `vb schemes`, `vb dialects`, `vb encode`, `vb decode`, `vb prompt`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from vb_plugins.cli.decode_extras import (
    add_prompt_options,
    check_preview_options,
    decode_preview,
    report_decoding,
    value_paths,
)
from vb_plugins.cli.options import add_task_options, task_and_spec
from vb_plugins.codecs._modes import decode_mode, lossy_suffix
from vb_plugins.errors import InputError


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
    decode.add_argument("--confidence", type=Path, help="also write the per-pixel confidence (.npy float32)")
    decode.add_argument("--mode", choices=("auto", "exact", "robust"), default="auto",
                        help="exact: every pixel on its own (lossless PNGs); robust: read compressed, noisy or "
                             "colour-cast images (JPEG, WebP, generator output); auto (default): robust for "
                             ".jpg/.jpeg/.webp inputs, else decided from the image")
    decode.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_task_options(decode)
    add_prompt_options(decode)
    decode.set_defaults(handler=run_decode)

    prompt = subparsers.add_parser("prompt", help="print the prompt for a task")
    prompt.add_argument("task")
    prompt.add_argument("--dialect", help="prompt dialect (see `vb dialects`; default: vision-banana)")
    add_task_options(prompt)
    prompt.set_defaults(handler=run_prompt)


def _list_handler(kind: str):
    def handler(args) -> int:
        from vb_plugins.registry import get_registry

        registry = get_registry()
        for name, (obj, origin) in registry.table(kind).items():
            description = getattr(obj, "description", "")
            print(f"{name}\t{description}" if description else name)
        for error in registry.load_errors:
            print(f"warning: {error}", file=sys.stderr)
        return 0

    return handler


def _check_output(path: Path, suffixes, overwrite: bool, what: str) -> None:
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: {what} are written as {' or '.join(suffixes)}")
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (pass --overwrite to replace it)")
    if not path.parent.is_dir():
        raise InputError(f"{path}: directory {path.parent} does not exist")


def run_encode(args) -> int:
    from vb_plugins.io import write_png

    task, spec = task_and_spec(args)
    _check_output(args.output, (".png",), args.overwrite, "visualizations")
    if args.input.suffix.lower() not in task.value_suffixes:
        raise InputError(f"{args.input}: {task.name} values are read from {' or '.join(task.value_suffixes)}")
    values = task.load_values(args.input, spec)
    try:
        rgb = task.encode(values, spec)
    except InputError as error:
        raise InputError(f"{args.input}: {error}") from None
    write_png(args.output, rgb, overwrite=args.overwrite)
    return 0


def run_decode(args) -> int:
    from vb_plugins.io import read_image, write_npy

    task, spec = task_and_spec(args)
    _check_output(args.output, task.value_suffixes, args.overwrite, f"{task.name} values")
    if args.confidence is not None:
        _check_output(args.confidence, (".npy",), args.overwrite, "confidences")
    if args.preview is not None:
        _check_output(args.preview, (".png",), args.overwrite, "previews")
    check_preview_options(args)
    image = read_image(args.input)
    mode = "robust" if args.mode == "auto" and lossy_suffix(args.input) else args.mode
    try:
        with decode_mode(mode):
            decoding = task.decode(image, spec)
    except InputError as error:
        raise InputError(f"{args.input}: {error}") from None
    preview = decode_preview(args, task, decoding, spec)  # drawn before anything is written
    task.save_values(decoding, args.output, spec, overwrite=args.overwrite)
    try:
        if args.confidence is not None:
            write_npy(args.confidence, np.asarray(decoding.confidence, dtype=np.float32), overwrite=args.overwrite)
        if preview is not None:
            preview.save(args.preview, overwrite=args.overwrite)
    except BaseException:
        for path in value_paths(task, spec, args.output) + [args.confidence]:  # all or nothing
            if path is not None:
                path.unlink(missing_ok=True)
        raise
    report_decoding(task, spec, decoding, args.output)
    return 0


def run_prompt(args) -> int:
    task, spec = task_and_spec(args)
    print(task.prompt(spec, args.dialect))
    return 0
