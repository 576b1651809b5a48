"""`vb predict` options for a vision-language model that runs before the generator: ``--query`` +
``--rewriter`` (referring: reasoning queries rewritten per image) and ``--gate`` (semantic / instance: classes
checked for presence first); ``--queries FILE`` gives each image its own query (referring) or noun phrase
(instance), as ReasonSeg and SA-Co do. See :mod:`vb_plugins.reasoning`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vb_plugins.errors import InputError
from vb_plugins.reasoning.guided import GuidedPredictor, guided
from vb_plugins.reasoning.queries import read_query_table, texts_for
from vb_plugins.registry import get_task

# --rewriter, --gate, --gate-threshold and --queries are run settings (vb_plugins.settings), added with the others.


def add_query_option(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("vision-language model before the generator (with --rewriter, --gate, "
                                      "--queries)")
    group.add_argument("--query", help="referring: a reasoning query (\"the object that keeps food cold\") that "
                                       "--rewriter turns into a plain referring expression for each image")


def apply_query(args: argparse.Namespace) -> None:
    """``--query`` is the expression the rewriter rewrites: check the combination, then put it in its place."""
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


def guide(predictor, images: list[Path]):
    """``predictor``, wrapped with the rewriter, gate or per-image texts its settings name (nothing loads yet);
    every image must have its text in the ``--queries`` file."""
    path = predictor.settings.queries
    texts = texts_for(read_query_table(path, "--queries"), images, path, "--queries") if path is not None else None
    return guided(predictor, texts=texts)


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
