"""`vb predict ... --ray [ADDRESS]`: the same run on Ray Data (:func:`vb_plugins.distributed.predict`)."""

from __future__ import annotations

import sys
from pathlib import Path

from vb_plugins.cli.options import run_settings, task_and_spec
from vb_plugins.distributed.options import RAY_OPTIONS, RayOptions
from vb_plugins.errors import InputError


def add_ray_options(parser) -> None:
    """``--ray [ADDRESS]`` and one option per other field of :class:`RayOptions`, from its declarations."""
    group = parser.add_argument_group(
        "scaling out (Ray Data; pip install \"vb-plugins[ray]\")",
        "Same per-image files, plus OUT/manifest.jsonl (one row per image: status, seconds, error). An image "
        "that cannot be read or predicted is listed there and the exit status is 1; the others are written. "
        "--batch-size is also the images an actor takes at a time.")
    group.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run on Ray: bare for RAY_ADDRESS or else a Ray started on this machine, 'auto' for the "
                            "cluster this machine is part of, ray://HOST:10001 for a remote one")
    for name, declared in RAY_OPTIONS.items():
        if name == "address":
            continue
        kind = int if declared.type.startswith("int") else float
        group.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=declared.default,
                           help=declared.metadata["help"])


def ray_options(args) -> RayOptions:
    """The :class:`RayOptions` of the options :func:`add_ray_options` added."""
    return RayOptions(address=args.ray, **{name: getattr(args, name) for name in RAY_OPTIONS if name != "address"})


def wants_ray(args) -> bool:
    """``--ray``, or a placement option that needs it (refused by :func:`run_predict_on_ray`)."""
    return args.ray is not None or any(getattr(args, name) != declared.default
                                       for name, declared in RAY_OPTIONS.items() if name != "address")


def check_address(address: str) -> None:
    """``--ray`` takes an optional value, so ``--ray photos/ -o out`` would read the folder as an address."""
    if address and "://" not in address and Path(address).exists():
        raise InputError(f"--ray {address}: that is a file or folder, not a Ray address; put --ray after the "
                         "inputs, or write --ray=ADDRESS")


def run_predict_on_ray(args) -> int:
    from vb_plugins.cli.predict_command import local_path  # here: predict_command imports this module
    from vb_plugins.distributed import predict

    if args.ray is None:
        raise InputError("--workers, --gpus-per-worker and --cpus-per-worker need --ray")
    check_address(args.ray)
    local_only = [flag for flag, given in (("--prompt", args.prompt), ("--query", args.query),
                                           ("--no-preview", not args.preview), ("--preview-range", args.preview_range))
                  if given]
    if local_only:  # the workers would ignore them
        raise InputError(f"--ray: not with {local_only[0]} (the single-process engine only, for now)")
    task, spec = task_and_spec(args)
    settings, ray = run_settings(args, local_path), ray_options(args)
    bar = None

    def progress(done, total):
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="image", desc=f"vb predict {task.name} --ray", file=sys.stderr)
        bar.update(done - bar.n)

    try:
        summary = predict(task.name, args.images, args.output, settings=settings, ray=ray, spec=spec,
                          overwrite=args.overwrite, quiet=args.quiet, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if summary.skipped:
        print(f"skipping {summary.skipped} image(s) already done in {args.output} (use --overwrite to redo)",
              file=sys.stderr)
    if summary.notice and summary.done and not args.quiet:
        print(f"vb predict: note: {summary.notice}", file=sys.stderr)
    if not args.quiet:
        print(f"vb predict: {summary.message()} ({summary.workers} worker(s); {summary.cluster})", file=sys.stderr)
    if summary.failed:
        first = summary.failed[0]
        print(f"vb predict: {len(summary.failed)} image(s) failed, listed in {summary.manifest} (first: "
              f"{first['error']})", file=sys.stderr)
        return 1
    return 0
