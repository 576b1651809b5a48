"""`vb predict` options for a vision-language model that runs before the generator: ``--query`` +
``--rewriter`` (referring: reasoning queries rewritten per image) and ``--gate`` (semantic / instance: classes
checked for presence first); ``--queries FILE`` gives each image its own query (referring) or noun phrase
(instance), as ReasonSeg and SA-Co do. See :mod:`vb_plugins.reasoning`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vb_plugins.errors import InputError

# vb_plugins.reasoning.guided is imported where it is used: it loads the predictor, which `vb --help` and the
# other commands do not need.


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
    group.add_argument("--queries", type=Path, metavar="FILE",
                       help="JSON {image file name or stem: text}: each image's own query (referring; rewritten "
                            "with --rewriter) or noun phrase (instance; gated with --gate), instead of "
                            "--query / --expression / --classes")


def apply_query(args: argparse.Namespace) -> None:
    """``--query`` is the expression the rewriter rewrites: check the combination, then put it in its place."""
    from vb_plugins.registry import get_task

    task = get_task(args.task)
    if args.queries is not None:
        if "expression" not in task.uses and task.value_kind != "instances":
            raise InputError(f"--queries: gives a query per image (referring) or a phrase per image (instance); "
                             f"not for task {task.name!r}")
        given = [name for name, value in (("--query", args.query), ("--expression", args.expression),
                                          ("--classes", args.classes)) if value]
        if given:
            raise InputError(f"--queries and {given[0]}: give one (--queries gives every image its own text)")
        return
    if args.query is None:
        if args.rewriter:
            raise InputError("--rewriter: needs the reasoning query to rewrite (--query TEXT, or --queries FILE)")
        return
    if not args.rewriter:
        raise InputError("--query: needs a model to rewrite it (--rewriter MODEL, e.g. gemini:gemini-2.5-pro); "
                         "a plain referring expression goes to --expression")
    if "expression" not in task.uses:
        raise InputError(f"--query: task {task.name!r} takes no query; --query and --rewriter are for referring")
    if args.expression:
        raise InputError("--query and --expression: give one (--query is rewritten by --rewriter, --expression is "
                         "painted as it is)")
    args.expression = args.query


def guide(predictor, args: argparse.Namespace, local_path, images: list[Path]):
    """``predictor``, wrapped with the rewriter, gate or per-image texts the options ask for (nothing loads yet)."""
    from vb_plugins.reasoning.guided import guided

    texts = read_queries(args.queries, images) if args.queries is not None else None
    return guided(predictor, rewriter=local_path(args.rewriter), gate=local_path(args.gate),
                  threshold=args.gate_threshold, texts=texts,
                  vlm_options={"device": args.device, "dtype": args.dtype})


def read_queries(path: Path, images: list[Path]) -> dict[str, str]:
    """``{str(image): text}`` from a JSON object keyed by each image's file name, stem or path as given."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"--queries {path}: cannot read it ({error.strerror or error})") from None
    except ValueError as error:
        raise InputError(f"--queries {path}: not valid JSON ({error})") from None
    if not isinstance(table, dict) or not all(isinstance(v, str) and v.strip() for v in table.values()):
        raise InputError(f"--queries {path}: expected a JSON object of non-empty texts, "
                         '{"image.jpg": "the object that keeps food cold", ...}')
    texts, missing = {}, []
    for image in images:
        key = next((k for k in (str(image), image.name, image.stem) if k in table), None)
        if key is None:
            missing.append(image.name)
        else:
            texts[str(image)] = table[key]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise InputError(f"--queries {path}: no text for {', '.join(missing[:3])}{more} (keys are image file "
                         "names or stems)")
    return texts


def load(predictor) -> None:
    """Load the vision-language model (after the generator, before anything is written)."""
    from vb_plugins.reasoning.guided import GuidedPredictor

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
    from vb_plugins.reasoning.guided import GuidedPredictor

    if not isinstance(predictor, GuidedPredictor):
        return {}

    def failed(key, error) -> None:
        failures.append(key)
        print(f"{prefix}: error: {key}: {error}", file=sys.stderr)

    return {"on_error": failed}
