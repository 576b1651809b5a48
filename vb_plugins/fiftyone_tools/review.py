"""A review queue: the samples a model is least sure of, tagged, saved as a view, and (optionally) sent
to the user's annotation backend through FiftyOne's own ``annotate()``.

    >>> from vb_plugins.fiftyone_tools.review import review_queue
    >>> queue = review_queue(dataset.view(), "seg", count=50)              # least confident first
    >>> dataset.load_saved_view(queue.view_name)                           # "vb-review: seg"

Rankings (each over the samples that have the score; a score field is written by every prediction run,
see :mod:`vb_plugins.fiftyone_tools.scores`):

- ``least_confident``: ``F_confidence_mean`` ascending;
- ``most_uncertain``: ``F_uncertainty_mean`` descending (ensemble runs);
- ``disagreement``: ``F`` against ``other_field`` (another model, or ground truth) with the evaluate
  operator's per-sample metrics, stored as ``F_vs_OTHER_METRIC``; worst first (see ``DISAGREEMENT``).

Ties are broken by ``filepath`` and then by sample id, ascending, so the queue is the same on every run.
The chosen samples get ``tag`` (FiftyOne adds a tag once: re-running never duplicates it) and the view
``select(chosen ids)`` sorted the same way is saved as ``vb-review: F`` (replaced on a re-run).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vb_plugins.errors import InputError
from vb_plugins.fiftyone_tools.scores import CLASS_SHARES, CONFIDENCE_MEAN, UNCERTAINTY_MEAN, class_keys

RANKINGS = ("least_confident", "most_uncertain", "disagreement")
# task -> (per-sample metric of the evaluate operator, 1 if a low value means disagreement else -1)
DISAGREEMENT = {"depth": ("abs_rel", -1), "normals": ("mean", -1), "semantic": ("pixel_accuracy", 1),
                "referring": ("iou", 1), "instance": ("local_f1", 1)}
DEFAULT_TAG = "review"


def view_name(field: str) -> str:
    return f"vb-review: {field}"


@dataclass
class ReviewQueue:
    """What :func:`review_queue` chose: sample ids in rank order, the score they were ranked by and its
    values, the tag and the saved view's name; ``newly_tagged`` counts samples that did not have the tag."""

    field: str
    ranking: str
    score_field: str
    order: int  # 1: ascending (low first), -1: descending
    ids: list[str]
    scores: list[float]
    tag: str
    view_name: str
    newly_tagged: int = 0
    candidates: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def message(self) -> str:
        direction = "lowest" if self.order == 1 else "highest"
        return (f"{len(self.ids)} of {self.candidates} sample(s) with the {direction} {self.score_field} queued "
                f"in view {self.view_name!r}; tag {self.tag!r} added to {self.newly_tagged}")


def _sort_keys(score_field: str, order: int) -> list[tuple[str, int]]:
    return [(score_field, order), ("filepath", 1), ("_id", 1)]


def class_filter(dataset, field: str, classes) -> object:
    """A ``match`` expression: samples whose ``field`` contains any of ``classes`` (semantic: pixels of
    the class, through ``F_class_shares``; instance: a detection with that label)."""
    from fiftyone import ViewField as F

    from vb_plugins.fiftyone_tools.scores import scorer_for_field

    names = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else list(classes)
    names = [n for n in names if n]
    scorer = scorer_for_field(dataset, field)
    if scorer.kind == "labels":
        keys = dict(zip(scorer.class_names, class_keys(scorer.class_names)))
        unknown = [n for n in names if n not in keys]
        if unknown:
            raise InputError(f"classes {unknown}: not classes of {field!r} (its classes: "
                             f"{', '.join(scorer.class_names)})")
        expression = None
        for name in names:
            term = F(f"{field}{CLASS_SHARES}.{keys[name]}") > 0
            expression = term if expression is None else expression | term
        return expression
    if scorer.kind == "instances":
        return F(f"{field}.detections").filter(F("label").is_in(names)).length() > 0
    raise InputError(f"classes: {field!r} holds {scorer.kind} values; a class filter needs a semantic or "
                     "instance field")


def _disagreement_field(samples, field: str, other_field: str, progress=None) -> tuple[str, int]:
    """Per-sample metrics of ``field`` against ``other_field`` (the evaluate operator's, stored with
    eval key ``F_vs_OTHER``); returns the metric field to rank by and its order."""
    from vb_plugins.fiftyone_tools.evaluate import evaluate_fields, infer_task

    dataset = samples._dataset
    task = infer_task(dataset, field)
    if task not in DISAGREEMENT:
        raise InputError(f"ranking disagreement: task {task!r} of {field!r} has no per-sample metric")
    metric, order = DISAGREEMENT[task]
    eval_key = f"{field}_vs_{other_field}"
    evaluate_fields(samples, field, other_field, task, eval_key=eval_key, progress=progress)
    return f"{eval_key}_{metric}", order


def review_queue(samples, field: str, count: int = 50, ranking: str = "least_confident", *,
                 other_field: str | None = None, classes=None, tag: str = DEFAULT_TAG,
                 progress=None) -> ReviewQueue:
    """Queue the ``count`` samples of ``samples`` that most need review by ``ranking``: tag them, save
    the view ``vb-review: F`` (rank order) and return what was chosen. See the module docstring."""
    dataset = samples._dataset
    schema = dataset.get_field_schema()
    if field not in schema:
        raise InputError(f"field {field!r}: no such field on dataset {dataset.name!r}")
    if ranking not in RANKINGS:
        raise InputError(f"ranking {ranking!r}: expected one of {', '.join(RANKINGS)}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"count={count!r}: expected a positive whole number of samples")
    if not isinstance(tag, str) or not tag.strip():
        raise InputError(f"tag {tag!r}: expected a non-empty tag")
    if ranking == "least_confident":
        score_field, order = field + CONFIDENCE_MEAN, 1
    elif ranking == "most_uncertain":
        score_field, order = field + UNCERTAINTY_MEAN, -1
    else:
        if not other_field:
            raise InputError("ranking disagreement: name the other field (other_field) to compare with")
        if other_field not in schema:
            raise InputError(f"other_field {other_field!r}: no such field on dataset {dataset.name!r}")
        score_field, order = None, 1
    candidates = samples
    if classes:
        candidates = candidates.match(class_filter(dataset, field, classes))
    if score_field is None:
        score_field, order = _disagreement_field(candidates.exists(field).exists(other_field), field, other_field,
                                                 progress)
    if score_field not in dataset.get_field_schema():
        hint = {"least_confident": " (run predict again, or backfill the scores)",
                "most_uncertain": " (only ensemble runs have it: predict with ensemble > 1)"}.get(ranking, "")
        raise InputError(f"ranking {ranking}: dataset {dataset.name!r} has no {score_field!r} field{hint}")
    ranked = candidates.exists(score_field).sort_by(_sort_keys(score_field, order))
    total = ranked.count()
    chosen = ranked.limit(count)
    ids, scores = chosen.values(["id", score_field])
    tagged_before = len(dataset.select(ids).match_tags(tag)) if ids else 0
    queue_view = dataset.select(ids).sort_by(_sort_keys(score_field, order))
    if ids:
        queue_view.tag_samples(tag)
    name = view_name(field)
    dataset.save_view(name, queue_view, description=f"vb-plugins review queue: {len(ids)} sample(s) of {field} "
                                                    f"ranked {ranking} by {score_field}", overwrite=True)
    return ReviewQueue(field, ranking, score_field, order, list(ids), list(scores), tag, name,
                       newly_tagged=len(ids) - tagged_before, candidates=total)
