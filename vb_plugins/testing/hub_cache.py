"""Tiny pipelines saved where the Hugging Face hub looks for a downloaded repository, for offline tests of
model strings that are Hub ids (``FunAILab/Open-Vision-Banana``) without any download.

The layout is the hub cache's: ``CACHE/models--ORG--NAME/snapshots/REVISION/...`` with ``refs/main`` naming
the revision; with ``HF_HUB_CACHE=CACHE`` and ``HF_HUB_OFFLINE=1`` diffusers loads the id from there.
"""

from __future__ import annotations

from pathlib import Path

REVISION = "0123456789abcdef0123456789abcdef01234567"


def paint_gray(pipeline):
    """Make a pipeline's VAE decode every latent to gray (R = G = B): its last convolution's three output
    channels share the first one's weights. A generator tuned to paint grayscale, in miniature."""
    import torch

    conv = pipeline.vae.decoder.conv_out
    with torch.no_grad():
        conv.weight[1:] = conv.weight[0].clone()
        if conv.bias is not None:
            conv.bias[1:] = conv.bias[0].clone()
    return pipeline


def save_in_hub_cache(pipeline, cache: str | Path, repo_id: str, revision: str = REVISION) -> Path:
    """Save ``pipeline`` (safetensors) as revision ``revision`` of ``repo_id`` in the hub cache folder ``cache``;
    returns the snapshot folder."""
    org, name = repo_id.split("/")
    repo = Path(cache) / f"models--{org}--{name}"
    snapshot = repo / "snapshots" / revision
    pipeline.save_pretrained(snapshot, safe_serialization=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot
