"""`vb predict ... --ray [ADDRESS]`: the same run on Ray Data (:func:`vb_plugins.distributed.predict`)."""

from __future__ import annotations

import sys
from pathlib import Path

from vb_plugins.errors import InputError


def add_ray_options(parser) -> None:
    group = parser.add_argument_group(
        "scaling out (Ray Data; pip install \"vb-plugins[ray]\")",
        "Same per-image files, plus OUT/manifest.jsonl (one row per image: status, seconds, error). An image "
        "that cannot be read or predicted is listed there and the exit status is 1; the others are written.")
    group.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run on Ray: bare for RAY_ADDRESS or else a Ray started on this machine, 'auto' for the "
                            "cluster this machine is part of, ray://HOST:10001 for a remote one")
    group.add_argument("--workers", type=int, help="actors, one model each (default: one per GPU, else 1)")
    group.add_argument("--gpus-per-worker", type=float, help="GPUs each worker reserves (default 1 with GPUs, else 0)")
    group.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs each worker reserves (default 1)")


def check_address(address: str) -> None:
    """``--ray`` takes an optional value, so ``--ray photos/ -o out`` would read the folder as an address."""
    if address and "://" not in address and Path(address).exists():
        raise InputError(f"--ray {address}: that is a file or folder, not a Ray address; put --ray after the "
                         "inputs, or write --ray=ADDRESS")


def run_predict_on_ray(args) -> int:
    from vb_plugins.cli.options import task_and_spec
    from vb_plugins.cli.predict_command import local_path  # here: predict_command imports this module
    from vb_plugins.distributed import predict

    if args.ray is None:
        raise InputError("--workers and --gpus-per-worker need --ray")
    check_address(args.ray)
    task, spec = task_and_spec(args)
    bar = None

    def progress(done, total):
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="image", desc=f"vb predict {task.name} --ray", file=sys.stderr)
        bar.update(done - bar.n)

    generator_options = {"transformer_weights": local_path(args.transformer_weights)} \
        if args.transformer_weights else None
    try:
        summary = predict(task.name, args.images, args.output, args.model, workers=args.workers,
                          gpus_per_worker=args.gpus_per_worker, cpus_per_worker=args.cpus_per_worker,
                          batch_size=args.batch_size, overwrite=args.overwrite, address=args.ray or None,
                          quiet=args.quiet, progress=progress, spec=spec, dialect=args.dialect, steps=args.steps,
                          guidance=args.guidance, megapixels=args.megapixels, ensemble=args.ensemble, seed=args.seed,
                          device=args.device, dtype=args.dtype, lora=args.lora, generator_options=generator_options)
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
