"""One prepared GPU run (issue 19): everything in one call that ends in under 9 minutes on one H100.

    bash benchmarks/gpu/run.sh                 # on the GPU machine; results in $OUT (default ./gpu-out)
    bash benchmarks/gpu/run.sh --tiny          # the same code at tiny size on a CPU (the test runs this)
    python benchmarks/gpu/run.py --parts engine --out DIR   # one part only

Parts, in this order, each within its share of one deadline (``--deadline``, seconds from the start):

1. ``vbsmall``: vb-small v2, a VBNet with twice today's channels at 128 px, trained for ``--seconds`` on
   synthetic scenes rendered on the GPU, scored on the 96 held-out scenes of
   ``benchmarks/bundled_model_eval.py`` against the bundled model, exported as float16 safetensors.
2. ``decoder``: a learned robust depth decoder (a small dilated CNN) trained for ``--decoder-seconds`` on
   rendered scenes through JPEG, scored on ``benchmarks/robust_decode.py``'s scenes and layouts against
   naive and robust decoding in the same run.
3. ``engine``: a random-weight FLUX.2 klein transformer with the published 4B configuration, bf16: the
   per-image ``pipe(...)`` loop against the engine at batch 1/4/8, 1 MP, 4 steps; images/s and peak memory.

Written to ``--out``: ``results.json`` (rewritten after every part, so a cut-off run keeps what it
finished), ``vb-small-v2/`` (``vb_model.json`` + ``model.safetensors``, loadable with ``--model DIR``) and
``learned-decoder/`` (``learned_decoder.safetensors`` + ``learned_decoder.json``); ``run.sh`` adds
``run.log``. A part that would not fit the time left is skipped with a note; a part that fails is
recorded with its error and the next part still runs (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
for entry in (REPO, HERE.parent, HERE):  # the package, the benchmarks it reuses, its own modules
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

PARTS = ("vbsmall", "decoder", "engine")


@dataclass(frozen=True)
class Settings:
    """Sizes of one run. ``FULL`` is the GPU run; ``TINY`` the same code at CPU test size."""

    # part 1: vb-small v2
    resolution: int = 128
    channels: tuple[int, ...] = (64, 128, 192, 256)
    batch_size: int = 32
    seconds: float = 270.0
    learning_rate: float = 2e-3
    buffer: int = 40_000  # examples kept on the device (the newest; training samples among them)
    held_out: int = 96
    eval_steps: tuple[int, ...] = (1, 2, 4)
    eval_reserve: float = 40.0  # held-out scoring of both models and the export
    # part 2: learned decoder
    decoder_size: int = 128
    decoder_batch: int = 32
    decoder_seconds: float = 100.0
    decoder_buffer: int = 12_000
    decoder_reserve: float = 35.0  # filling the buffer at the start, scoring, saving
    benchmark_scenes: int = 12
    benchmark_layouts: int = 8
    benchmark_size: int = 256
    # part 3: engine
    transformer: str = "klein-4b"
    engine_images: int = 8
    engine_batches: tuple[int, ...] = (1, 4, 8)
    engine_steps: int = 4
    megapixels: float = 1.0
    engine_reserve: float = 80.0
    # the run
    deadline: float = 520.0
    render_batch: int = 64  # scenes rendered per pass on the device
    min_train_seconds: float = 20.0  # below this a training part is skipped instead of run

    def describe(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


FULL = Settings()
TINY = Settings(resolution=32, channels=(8, 16, 16, 16), batch_size=4, seconds=3.0, buffer=256, held_out=3,
                eval_steps=(1, 2), eval_reserve=25.0, decoder_size=32, decoder_batch=4, decoder_seconds=2.0,
                decoder_buffer=128, decoder_reserve=20.0, benchmark_scenes=1, benchmark_layouts=1,
                benchmark_size=48, transformer="tiny", engine_images=2, engine_batches=(1, 2), engine_steps=2,
                megapixels=64 * 64 / 1e6, engine_reserve=30.0, deadline=240.0, render_batch=4,
                min_train_seconds=1.0)


class Budget:
    """Seconds left until the run's deadline, and how much of them a part may take."""

    def __init__(self, seconds: float):
        self.began = time.monotonic()
        self.seconds = seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def allot(self, wanted: float, reserve: float) -> float:
        """``wanted`` seconds, or less so that ``reserve`` seconds remain for what follows."""
        return max(0.0, min(wanted, self.left() - reserve))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def environment(device) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
            "cpus": os.cpu_count(), "machine": platform.machine()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    try:
        import diffusers

        info["diffusers"] = diffusers.__version__
    except ImportError:
        info["diffusers"] = None
    return info


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu-out"),
                        help="results folder (default: $OUT, else ./gpu-out)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes on the CPU: the test of this script")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--seconds", type=float, help="vb-small v2 training time (default 270; tiny 3)")
    parser.add_argument("--decoder-seconds", type=float, help="learned decoder training time (default 100; tiny 2)")
    parser.add_argument("--deadline", type=float, help="the whole run ends by then, seconds (default 520; tiny 240)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--workers", type=int, help="processes preparing training data (default: CPUs - 2; tiny 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        parser.error(f"--parts {args.parts!r}: choose from {', '.join(PARTS)}")
    args.parts = parts
    return args


def main(argv=None) -> int:
    args = parse(argv)
    settings = TINY if args.tiny else FULL
    overrides = {k: v for k, v in (("seconds", args.seconds), ("decoder_seconds", args.decoder_seconds),
                                   ("deadline", args.deadline)) if v is not None}
    settings = replace(settings, **overrides)
    budget = Budget(settings.deadline)
    out = args.out
    results_path = out / "results.json"
    if results_path.exists() and not args.overwrite:
        print(f"error: {results_path} exists; pass --overwrite or choose another --out", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)

    import torch

    from vb_plugins.generation.bundled import pick_device

    device = torch.device(args.device or ("cpu" if args.tiny else pick_device()))
    if args.tiny:
        torch.set_num_threads(1)  # tiny tensors: threads only wait for each other, the more so on a busy CPU
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    workers = args.workers or (1 if args.tiny else max(1, (os.cpu_count() or 2) - 2))
    results = {"issue": 19, "tiny": args.tiny, "settings": settings.describe(), "workers": workers,
               "environment": environment(device), "parts": {}, "notes": []}
    if device.type != "cuda" and not args.tiny:
        results["notes"].append("no CUDA device: the figures are not the GPU run the issue asks for")

    def save():
        results["seconds"] = round(budget.elapsed(), 1)
        temporary = results_path.with_suffix(".partial")
        temporary.write_text(json.dumps(results, indent=2, default=str))
        temporary.replace(results_path)

    if "engine" in args.parts and results["environment"]["diffusers"] is None:
        results["notes"].append("diffusers is not importable: the engine part will fail (carry .whl, see README.md)")
        log(results["notes"][-1])
    save()
    log(f"device {device}, {workers} data workers, deadline {settings.deadline:.0f} s, parts {', '.join(args.parts)}")
    pools = []

    def pool():
        if not pools:
            from feed import worker_pool

            pools.append(worker_pool(workers))
        return pools[0]

    failed = False
    try:
        for part in PARTS:
            if part not in args.parts:
                results["parts"][part] = {"status": "not requested"}
                continue
            log(f"part {part}: {budget.left():.0f} s left")
            try:
                result = run_part(part, settings, budget, device, out, pool, args.parts)
            except Exception as error:  # record it, keep the other parts' results, run the next part
                failed = True
                result = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                          "traceback": traceback.format_exc(limit=8)}
                log(f"part {part} FAILED: {type(error).__name__}: {error}")
                traceback.print_exc()
            result.setdefault("status", "done")
            results["parts"][part] = result
            save()
            log(f"part {part}: {result['status']}" + (f" ({result['note']})" if result.get("note") else ""))
            if device.type == "cuda":
                torch.cuda.empty_cache()
    finally:
        for executor in pools:
            executor.shutdown(wait=False, cancel_futures=True)
        save()
    log(f"done in {budget.elapsed():.0f} s; results in {results_path}")
    return 1 if failed else 0


def run_part(part, settings, budget, device, out, pool, requested) -> dict:
    later = [p for p in PARTS[PARTS.index(part) + 1:] if p in requested]
    reserve_after = sum({"decoder": settings.decoder_seconds + settings.decoder_reserve,
                         "engine": settings.engine_reserve}[p] for p in later)
    if part == "vbsmall":
        import vbsmall_v2

        seconds = budget.allot(settings.seconds, settings.eval_reserve + reserve_after)
        if seconds < settings.min_train_seconds:
            return {"status": "skipped", "note": f"only {seconds:.0f} s of training would fit before the deadline"}
        return vbsmall_v2.run(settings, seconds, device, out / "vb-small-v2", pool(), log)
    if part == "decoder":
        import learned_decoder

        seconds = budget.allot(settings.decoder_seconds, settings.decoder_reserve + reserve_after)
        if seconds < settings.min_train_seconds:
            return {"status": "skipped", "note": f"only {seconds:.0f} s of training would fit before the deadline"}
        return learned_decoder.run(settings, seconds, device, out / "learned-decoder", pool(), log)
    import engine_scale

    if budget.left() < settings.engine_reserve / 4:
        return {"status": "skipped", "note": f"{budget.left():.0f} s left before the deadline"}
    return engine_scale.run(settings, budget, device, log)


if __name__ == "__main__":
    sys.exit(main())
