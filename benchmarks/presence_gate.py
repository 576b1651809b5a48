"""What a presence gate saves: instance segmentation of a mixed-presence set (half the phrases absent from each
image) with and without ``--gate``, on the same generator, images and seeds, in one run.

    python benchmarks/presence_gate.py [--images 8] [--classes "cat, dog, car, tree"] [--out results.json]
    python benchmarks/presence_gate.py --model black-forest-labs/FLUX.2-klein-4B --gate ./Qwen2.5-VL-3B-Instruct \\
        --device cuda --megapixels 1

Without ``--model`` a tiny random-weight FLUX.2 klein pipeline is built in a temp dir (CPU, offline). Without
``--gate`` the gate is a tiny random-weight Qwen2-VL built the same way whose answers are the set's ground truth
(an oracle: the model runs for every question, so its cost is real, but its decision is the truth table's), so
the figures are the saving of a gate that is always right. With ``--gate MODEL`` a real vision-language model
decides; the ground truth is then only used to count its mistakes.

Counted per run: generator calls (batches), images painted (passes x images), seconds painting, seconds in the
gate, total seconds (decoding included); and, per absent (image, class) pair, whether instances of it came back
(a tuned generator paints something for an absent class all the same; the tiny random-weight one rarely paints
anything decodable, so this count means something only with ``--model``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from vb_plugins.generation import load_generator
from vb_plugins.predict import Predictor
from vb_plugins.reasoning import Presence, PresenceGate, guided, load_gate
from vb_plugins.reasoning.cache import image_digest
from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline
from vb_plugins.testing.tiny_vlm import save_tiny_vlm


class CountingGenerator:
    """Counts the images a generator paints, however the engine batches them."""

    def __init__(self, generator):
        self.generator = generator
        self.painted = 0
        real = generator.generate

        def generate(images, *args, **kwargs):
            self.painted += len(images)
            return real(images, *args, **kwargs)

        generator.generate = generate


def timed(gate):
    """``gate`` with its seconds spent answering added up in ``gate.seconds``."""
    real = gate.presence_many
    gate.seconds = 0.0

    def presence_many(requests, should_stop=None):
        began = time.perf_counter()
        try:
            return real(requests, should_stop)
        finally:
            gate.seconds += time.perf_counter() - began

    gate.presence_many = presence_many
    return gate


def mixed_presence_set(count: int, classes: list[str], seed: int = 0):
    """``count`` photos and, for each, the half of ``classes`` that is present (the rest absent)."""
    rng = np.random.default_rng(seed)
    photos = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(count)]
    present = [set(rng.permutation(classes)[: len(classes) // 2].tolist()) for _ in range(count)]
    return photos, present


def oracle_gate(folder: str, photos, present):
    """A tiny-VLM gate that runs the model on every question and answers with the truth table."""
    truth = {image_digest(photo): names for photo, names in zip(photos, present)}
    model = load_gate(folder, device="cpu")

    class Oracle(PresenceGate):
        name = f"oracle over {model.name}"

        def presence(self, image, phrase):
            model.presence(image, phrase)  # the real model's cost
            answer = phrase in truth[image_digest(image)]
            return Presence(phrase, answer, float(answer), "yes" if answer else "no", self.name)

    return Oracle()


def run(generator, photos, classes, *, gate=None, steps=2, megapixels=None, batch_size=4) -> dict:
    predictor = guided(Predictor("instance", generator, classes=", ".join(classes), steps=steps,
                                 megapixels=megapixels, batch_size=batch_size), gate=gate)
    if gate is not None:
        gate.seconds = 0.0
    began, cpu = time.perf_counter(), time.process_time()
    predictions = predictor.predict(photos)
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu
    engine = predictor.engine
    return {"predictions": predictions, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "generator_calls": engine.generator_calls, "seconds_generating": engine.seconds_generating,
            "seconds_gating": gate.seconds if gate is not None else 0.0}


def absent_painted(predictions, present, classes) -> tuple[int, int]:
    """(absent (image, class) pairs that came back with instances, absent pairs)."""
    painted = total = 0
    for prediction, names in zip(predictions, present):
        found = set(prediction.extras.get("classes", []))
        for name in classes:
            if name not in names:
                total += 1
                painted += name in found
    return painted, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--classes", default="cat, dog, car, tree")
    parser.add_argument("--model", help="a real image-editing pipeline (Hub id or path) instead of a tiny one")
    parser.add_argument("--gate", help="a real presence gate (gemini:MODEL or a VLM folder) instead of the oracle")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--megapixels", type=float, default=0.0164, help="generation size (default 128x128)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration (the fastest is kept)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()

    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    photos, present = mixed_presence_set(args.images, classes)
    with tempfile.TemporaryDirectory() as temp:
        model = args.model or str(save_tiny_pipeline("flux2-klein", f"{temp}/pipe"))
        generator = load_generator(model, device=args.device, dtype=args.dtype)
        counter = CountingGenerator(generator)
        if args.gate:
            gate, gate_name = load_gate(args.gate, device=args.device), args.gate
        else:
            gate = oracle_gate(str(save_tiny_vlm(f"{temp}/vlm")), photos, present)
            gate_name = "oracle (tiny random-weight Qwen2-VL run on every question, ground-truth answers)"
        settings = {"steps": args.steps, "megapixels": args.megapixels, "batch_size": args.batch_size}
        gate = timed(gate)
        for warm_up in (None, gate):  # first-call costs belong to neither run
            run(generator, photos[:1], classes, gate=warm_up, **settings)
        results: dict[str, dict] = {}
        # Repeats alternate the order and keep each configuration's fastest run: the machine may be shared.
        for repeat in range(args.repeat):
            order = (("without_gate", None), ("with_gate", gate))
            for name, run_gate in order if repeat % 2 == 0 else order[::-1]:
                before = counter.painted
                outcome = run(generator, photos, classes, gate=run_gate, **settings)
                painted, absent = absent_painted(outcome.pop("predictions"), present, classes)
                outcome.update(images_painted=counter.painted - before, absent_pairs=absent,
                               absent_pairs_painted=painted)
                best = results.get(name)
                if best is None or outcome["seconds"] < best["seconds"]:
                    results[name] = outcome
    base, gated = results["without_gate"], results["with_gate"]
    report = {
        "generator": model if args.model else "tiny random-weight FLUX.2 klein (CPU)", "gate": gate_name,
        "images": args.images, "classes": classes, "present_share": 0.5, "repeat": args.repeat, **settings,
        **results,
        "ratios_with_vs_without": {
            "images_painted": gated["images_painted"] / base["images_painted"],
            "generator_calls": gated["generator_calls"] / base["generator_calls"],
            "seconds_generating": gated["seconds_generating"] / base["seconds_generating"],
            "seconds_total": gated["seconds"] / base["seconds"],
            "cpu_seconds_total": gated["cpu_seconds"] / base["cpu_seconds"],
        },
    }
    print(f"{args.images} images x {len(classes)} classes ({', '.join(classes)}), half absent per image; "
          f"generator: {report['generator']}; gate: {gate_name}")
    for name, outcome in results.items():
        print(f"  {name.replace('_', ' '):13s}: {outcome['images_painted']:3d} images painted in "
              f"{outcome['generator_calls']:3d} calls, {outcome['seconds_generating']:.2f} s painting, "
              f"{outcome['seconds_gating']:.2f} s gating, {outcome['seconds']:.2f} s in all "
              f"({outcome['cpu_seconds']:.1f} s CPU); absent classes with "
              f"instances: {outcome['absent_pairs_painted']} of {outcome['absent_pairs']}")
    ratios = report["ratios_with_vs_without"]
    print(f"  with / without: images painted {ratios['images_painted']:.2f}x, generator calls "
          f"{ratios['generator_calls']:.2f}x, painting time {ratios['seconds_generating']:.2f}x, "
          f"total time {ratios['seconds_total']:.2f}x (CPU time {ratios['cpu_seconds_total']:.2f}x)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
