"""What a vision-language model said before the generator ran, as FiftyOne labels beside a run's output field ``F``:

- rewriter (referring): ``F_rewrite``, an ``fo.Classification`` whose ``label`` is the rewritten expression
  (``"absent"`` when nothing fits), with attributes ``query``, ``absent``, ``answer`` (the model's words) and
  ``model``;
- presence gate (semantic, instance): ``F_gate``, an ``fo.Classifications`` with one ``fo.Classification``
  per class asked about: ``label`` = the class, ``confidence`` = the presence score, attributes ``present``
  and ``answer``; absent classes were not generated and their labels are empty.

Images the model found nothing to paint in get no ``F_generated`` (nothing was generated).
"""

from __future__ import annotations

from vb_plugins.fiftyone_tools.labels import LabelWriter, OutputFields


class GuidedLabelWriter(LabelWriter):
    """A :class:`LabelWriter` that also writes ``F_rewrite`` or ``F_gate`` (``guidance``: "rewrite" or "gate")."""

    def __init__(self, *args, guidance: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.guidance = guidance

    @property
    def fields(self) -> OutputFields:
        fields = super().fields
        return OutputFields(fields.main, fields.kind, fields.side + (f"{self.field}_{self.guidance}",), fields.media)

    def write(self, prediction, sample_id: str) -> dict:
        import fiftyone as fo

        values = super().write(prediction, sample_id)
        name = f"{self.field}_{self.guidance}"
        if self.guidance == "rewrite":
            rewrite = prediction.extras["rewrite"]
            values[name] = fo.Classification(label=rewrite["expression"] or "absent", query=rewrite["query"],
                                             absent=rewrite["absent"], answer=rewrite["answer"],
                                             model=rewrite["model"])
        else:
            values[name] = fo.Classifications(classifications=[
                fo.Classification(label=entry["phrase"], confidence=entry["score"], present=entry["present"],
                                  answer=entry["answer"]) for entry in prediction.extras["gate"]])
        return values
