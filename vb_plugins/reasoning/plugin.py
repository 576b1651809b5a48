"""The built-in rewriter and presence-gate backends, as the ``vb_rewriters`` / ``vb_presence_gates`` hooks
return them (registered by :mod:`vb_plugins.builtin`)."""

from __future__ import annotations


def builtin_rewriters() -> list:
    from vb_plugins.reasoning.gemini import GeminiRewriterBackend
    from vb_plugins.reasoning.local import TransformersRewriterBackend

    return [GeminiRewriterBackend(), TransformersRewriterBackend()]


def builtin_presence_gates() -> list:
    from vb_plugins.reasoning.gemini import GeminiGateBackend
    from vb_plugins.reasoning.local import TransformersGateBackend

    return [GeminiGateBackend(), TransformersGateBackend()]
