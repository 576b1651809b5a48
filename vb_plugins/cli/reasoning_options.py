"""`vb predict` options for a vision-language model that runs before the generator: ``--query`` +
``--rewriter`` (referring: reasoning queries rewritten per image) and ``--gate`` (semantic / instance: classes
checked for presence first). See :mod:`vb_plugins.reasoning`."""

from __future__ import annotations

import argparse
import sys

from vb_plugins.errors import InputError
from vb_plugins.reasoning.guided import GuidedPredictor, guided


def add_reasoning_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("vision-language model before the generator")
    group.add_argument("--query", help="referring: a reasoning query (\"the object that keeps food cold\") that "
                                       "--rewriter turns into a plain referring expression for each image")
    group.add_argument("--rewriter", metavar="MODEL",
                       help="the model that rewrites --query: gemini:MODEL (e.g. gemini:gemini-2.5-pro), or a local "
                            "transformers vision-language model folder or Hub id (Qwen2.5-VL, Qwen3-VL, ...); an "
                            "'absent' answer gives an empty mask and no generation")
    group.add_argument("--gate", metavar="MODEL",
                       help="semantic / instance: ask MODEL (as --rewriter) whether each class is in each image first; "
                            "absent classes are not prompted and come back empty")
    group.add_argument("--gate-threshold", type=float, metavar="SCORE",
                       help="presence score from which a class counts as present (0..1, default 0.5)")


def apply_query(args: argparse.Namespace) -> None:
    """``--query`` is the expression the rewriter rewrites: check the combination, then put it in its place."""
    if args.query is None:
        if args.rewriter:
            raise InputError("--rewriter: needs the reasoning query to rewrite (--query TEXT)")
        return
    if not args.rewriter:
        raise InputError("--query: needs a model to rewrite it (--rewriter MODEL, e.g. gemini:gemini-2.5-pro); "
                         "a plain referring expression goes to --expression")
    from vb_plugins.registry import get_task

    task = get_task(args.task)
    if "expression" not in task.uses:
        raise InputError(f"--query: task {task.name!r} takes no query; --query and --rewriter are for referring")
    if args.expression:
        raise InputError("--query and --expression: give one (--query is rewritten by --rewriter, --expression is "
                         "painted as it is)")
    args.expression = args.query


def guide(predictor, args: argparse.Namespace, local_path):
    """``predictor``, wrapped with the rewriter or gate the options ask for (nothing loads yet)."""
    return guided(predictor, rewriter=local_path(args.rewriter), gate=local_path(args.gate),
                  threshold=args.gate_threshold, vlm_options={"device": args.device, "dtype": args.dtype})


def load(predictor) -> None:
    """Load the vision-language model (after the generator, before anything is written)."""
    if isinstance(predictor, GuidedPredictor):
        predictor.load()


def report(prediction, name: str) -> None:
    """One line on stdout per image: what the rewriter made of the query, or what the gate found."""
    rewrite = prediction.extras.get("rewrite")
    if rewrite is not None:
        said = "absent: empty mask, nothing generated" if rewrite["absent"] else repr(rewrite["expression"])
        print(f"{name}: {rewrite['query']!r} -> {said}")
    gate = prediction.extras.get("gate")
    if gate is not None:
        present = ", ".join(f"{e['phrase']} ({e['score']:.2f})" for e in gate if e["present"]) or "none"
        absent = ", ".join(f"{e['phrase']} ({e['score']:.2f})" for e in gate if not e["present"]) or "none"
        print(f"{name}: present: {present}; absent: {absent}")


def failure_options(predictor, prefix: str, failures: list) -> dict:
    """``predict_iter`` options for a guided run: a failed question is one line on stderr naming the image, its
    key goes to ``failures``, and the run goes on. Nothing for an unguided run (whose errors end it)."""
    if not isinstance(predictor, GuidedPredictor):
        return {}

    def failed(key, error) -> None:
        failures.append(key)
        print(f"{prefix}: error: {key}: {error}", file=sys.stderr)

    return {"on_error": failed}
