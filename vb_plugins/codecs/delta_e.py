"""Perceptual colour difference: CIEDE2000 (CIE 142-2001), vectorised.

Implemented from G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula: implementation
notes, supplementary test data, and mathematical observations", Color Research & Application 30(1), 2005
(the test in ``tests/core/test_delta_e.py`` checks their published test pairs). Inputs are CIELAB (D65,
e.g. from :func:`vb_plugins.codecs.colors.rgb_to_lab`); ``kL = kC = kH = 1``.
"""

from __future__ import annotations

import numpy as np

from vb_plugins.codecs.colors import rgb_to_lab

_POW25_7 = 25.0**7


def ciede2000(lab1, lab2) -> np.ndarray:
    """ΔE00 between CIELAB colours; arrays ``(..., 3)`` broadcast against each other."""
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = np.moveaxis(lab1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab2, -1, 0)

    # Step 1: a' with the G correction, C', h'.
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    c7 = c_mean**7
    g = 0.5 * (1.0 - np.sqrt(c7 / (c7 + _POW25_7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)

    # Step 2: ΔL', ΔC', ΔH'.
    delta_l = l2 - l1
    delta_c = c2p - c1p
    chroma_product = c1p * c2p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(chroma_product == 0, 0.0, dh)
    delta_h = 2.0 * np.sqrt(chroma_product) * np.sin(np.radians(dh / 2.0))

    # Step 3: the weighting functions.
    l_mean = (l1 + l2) / 2.0
    cp_mean = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_mean = np.where(
        chroma_product == 0, h_sum,
        np.where(np.abs(h1p - h2p) <= 180.0, h_sum / 2.0,
                 np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0)))
    t = (1.0 - 0.17 * np.cos(np.radians(h_mean - 30.0)) + 0.24 * np.cos(np.radians(2.0 * h_mean))
         + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0)) - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0)))
    delta_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    cp7 = cp_mean**7
    r_c = 2.0 * np.sqrt(cp7 / (cp7 + _POW25_7))
    s_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    s_c = 1.0 + 0.045 * cp_mean
    s_h = 1.0 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2.0 * delta_theta)) * r_c

    terms_l, terms_c, terms_h = delta_l / s_l, delta_c / s_c, delta_h / s_h
    return np.sqrt(terms_l**2 + terms_c**2 + terms_h**2 + r_t * terms_c * terms_h)


def rgb_delta_e(rgb1, rgb2) -> np.ndarray:
    """ΔE00 between sRGB colours (uint8-range values, ``(..., 3)``, broadcasting)."""
    return ciede2000(rgb_to_lab(np.asarray(rgb1, np.float32) / 255.0), rgb_to_lab(np.asarray(rgb2, np.float32) / 255.0))
