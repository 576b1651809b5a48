"""Reasoning segmentation and presence gating with a vision-language model (VLM) before the generator.

- :class:`Rewriter`: (image, reasoning query) -> a plain referring expression, or "absent";
- :class:`PresenceGate`: (image, phrase) -> present / absent with a score;
- :class:`GuidedPredictor`: a Predictor that rewrites its referring query, or gates its classes, per image.

Backends come from the ``vb_rewriters`` / ``vb_presence_gates`` plugin hooks; built in: ``gemini:MODEL``
(:mod:`.gemini`) and local ``transformers`` VLMs by folder or Hub id (:mod:`.local`).

    >>> from vb_plugins.predict import Predictor
    >>> from vb_plugins.reasoning import guided
    >>> predictor = guided(Predictor("referring", "black-forest-labs/FLUX.2-klein-4B",
    ...                              expression="the object that keeps food cold"),
    ...                    rewriter="gemini:gemini-2.5-pro")
    >>> prediction = predictor.predict(["kitchen.jpg"])[0]
    >>> prediction.extras["rewrite"]["expression"]       # e.g. 'the white refrigerator', None when absent
"""

from vb_plugins.reasoning.answers import Presence, Rewrite
from vb_plugins.reasoning.base import (
    PresenceGate,
    PresenceGateBackend,
    Rewriter,
    RewriterBackend,
    list_gate_backends,
    list_rewriter_backends,
    load_gate,
    load_rewriter,
)
from vb_plugins.reasoning.cache import AnswerCache
from vb_plugins.reasoning.guided import GuidedPredictor, guided

__all__ = ["Rewrite", "Presence", "Rewriter", "PresenceGate", "RewriterBackend", "PresenceGateBackend",
           "load_rewriter", "load_gate", "list_rewriter_backends", "list_gate_backends", "AnswerCache",
           "GuidedPredictor", "guided"]
