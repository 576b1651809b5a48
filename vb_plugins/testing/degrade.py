"""Realistic degradations of generated images, for tests and benchmarks of decoding robustness."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def jpeg(rgb: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    """Round-trip through JPEG at ``quality`` (Pillow; ``subsampling=2`` is 4:2:0, what encoders default to)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(quality), subsampling=subsampling)
    return np.asarray(Image.open(buffer).convert("RGB"))


def webp(rgb: np.ndarray, quality: int = 80) -> np.ndarray:
    """Round-trip through lossy WebP."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="WEBP", quality=int(quality))
    return np.asarray(Image.open(buffer).convert("RGB"))


def gaussian_noise(rgb: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Add i.i.d. Gaussian noise of ``sigma`` 8-bit levels per channel, clipped to 0..255."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, rgb.shape)
    return np.clip(np.rint(rgb.astype(np.float64) + noise), 0, 255).astype(np.uint8)


def colour_cast(rgb: np.ndarray, gains=(1.03, 1.0, 0.97)) -> np.ndarray:
    """Scale each channel by a gain (a white-balance error), clipped to 0..255."""
    return np.clip(np.rint(rgb.astype(np.float64) * np.asarray(gains)), 0, 255).astype(np.uint8)
