"""A candidate robust depth decoder measured against the shipped one: TGV inversion through a JPEG model.

    python benchmarks/robust_decode_tgv.py [--scenes 12] [--layouts 8] [--size 256]
        [--damages lossless,jpeg95,jpeg75,jpeg50,webp80,noise4,cast3%] [--iterations 600] [--json out.json]

Not part of the product: it records why this decoder was not shipped. Starting from the robust decode,
it minimises over inverse depth ``q`` (scaled to about one unit per path step) and a slope field ``w``

    sum rho((Y(q) - Y_obs) / 2) + rho((smear(Cb(q)) - Cb_obs) / 4) + rho((smear(Cr(q)) - Cr_obs) / 4)
      + a1 |grad q - w| + a0 |sym grad w|                          (second-order TGV, a1 = 0.3, a0 = 0.6)

with ``rho`` the Charbonnier loss, ``Y, Cb, Cr`` the path colour of ``q`` and ``smear`` the 2 x 2 mean and
bilinear upsampling of 4:2:0 JPEG. TGV makes planes in inverse depth (the renderer's planar surfaces)
free, so it finds planes without a segmentation; the colour model explains chroma smeared across edges
instead of fighting it. Adam, learning rate 0.05, from the robust decode. The scenes and damages are
those of ``benchmarks/robust_decode.py``; reported per damage: depth AbsRel and delta1 of naive, robust
and TGV decoding, and the time per image of robust and TGV decoding.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from robust_decode import DAMAGES, depth_scores, load_scenes

from vb_plugins.codecs import DepthCodec

ALPHA1, ALPHA0 = 0.3, 0.6
LUMA_SCALE, CHROMA_SCALE = 2.0, 4.0  # levels at which the Charbonnier loss turns from quadratic to linear


def tgv_decode(codec: DepthCodec, image: np.ndarray, start_depth: np.ndarray, iterations: int) -> np.ndarray:
    """Depth (metres) minimising the TGV + JPEG-model energy above, from ``start_depth``."""
    import torch
    import torch.nn.functional as F

    from vb_plugins.codecs._robust import YCBCR, _Path

    path = _Path(codec)
    vertices = torch.tensor(path.ycc_vertices)
    observed = torch.tensor(image.astype(np.float32) @ YCBCR.T)
    height, width = start_depth.shape
    q0 = (1.0 / np.clip(np.nan_to_num(start_depth, posinf=1e6), 1e-3, 1e6)).astype(np.float32)
    # Scale so that one unit of z is about one path step at the image's median depth.
    s0 = path.to_s(q0)
    steps_per_q = float(np.median(np.abs(path.to_s(q0 * 1.001) - s0) / (q0 * 0.001)))

    def colour(z):
        """YCbCr of the path colour at scaled inverse depth z: _Path.to_s and _Path.ycc, differentiable."""
        aq = path.scale * (z / steps_per_q).clamp(min=0.0)
        x = (path.segments * (1.0 - (aq / (aq + 1.0)) ** path.power)).clamp(0.0, path.segments)
        segment = x.floor().long().clamp(max=path.segments - 1)
        t = (x - segment).unsqueeze(-1)
        return vertices[segment] * (1.0 - t) + vertices[segment + 1] * t

    def smear(channel):
        x = F.pad(channel[None, None], (0, width % 2, 0, height % 2), mode="replicate")
        x = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="bilinear", align_corners=False)
        return x[0, 0, :height, :width]

    def forward_differences(x):
        gx, gy = torch.zeros_like(x), torch.zeros_like(x)
        gx[:, :-1] = x[:, 1:] - x[:, :-1]
        gy[:-1] = x[1:] - x[:-1]
        return gx, gy

    def charbonnier(x):
        return (torch.sqrt(1.0 + x * x) - 1.0).sum()

    z = torch.tensor(q0 * steps_per_q)
    wx, wy = forward_differences(z)
    z, wx, wy = (t.clone().requires_grad_(True) for t in (z, wx, wy))
    optimiser = torch.optim.Adam([z, wx, wy], lr=0.05)
    for _ in range(iterations):
        optimiser.zero_grad()
        model = colour(z)
        data = (charbonnier((model[..., 0] - observed[..., 0]) / LUMA_SCALE)
                + charbonnier((smear(model[..., 1]) - observed[..., 1]) / CHROMA_SCALE)
                + charbonnier((smear(model[..., 2]) - observed[..., 2]) / CHROMA_SCALE))
        gx, gy = forward_differences(z)
        first = torch.sqrt((gx - wx) ** 2 + (gy - wy) ** 2 + 1e-4).sum()
        wxx, wxy = forward_differences(wx)
        wyx, wyy = forward_differences(wy)
        second = torch.sqrt(wxx**2 + wyy**2 + 0.5 * (wxy + wyx) ** 2 + 1e-4).sum()
        (data + ALPHA1 * first + ALPHA0 * second).backward()
        optimiser.step()
    with torch.no_grad():
        return path.depth(path.to_s((z / steps_per_q).clamp(min=0.0).numpy()))


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=12, help="synthetic scenes (render_scene seeds 0..N-1)")
    parser.add_argument("--layouts", type=int, default=8, help="procedural layouts")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--damages", default="lossless,jpeg95,jpeg75,jpeg50,webp80,noise4,cast3%",
                        help=f"comma-separated, from: {', '.join(DAMAGES)}")
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--json", help="also write the numbers as JSON")
    args = parser.parse_args()
    damages = args.damages.split(",")
    unknown = [name for name in damages if name not in DAMAGES]
    if unknown:
        parser.error(f"--damages: unknown {', '.join(unknown)}; choose from {', '.join(DAMAGES)}")
    scenes, layouts = load_scenes(args.scenes, args.layouts, args.size)
    codec = DepthCodec()
    results = {}
    for name in damages:
        row = {}
        for kind, depths in (("scenes", [s.depth for s in scenes]), ("layouts", layouts)):
            scores: dict[str, list] = {}
            for depth in depths:
                image = DAMAGES[name](codec.encode(depth))
                start = time.perf_counter()
                robust = codec.decode(image, mode="robust").depth
                middle = time.perf_counter()
                tgv = tgv_decode(codec, image, robust, args.iterations)
                scores.setdefault("robust_seconds", []).append(middle - start)
                scores.setdefault("tgv_seconds", []).append(time.perf_counter() - middle)
                for method, decoded in (("naive", codec.decode(image, mode="exact").depth), ("robust", robust),
                                        ("tgv", tgv)):
                    abs_rel, delta1, _ = depth_scores(decoded, depth)
                    scores.setdefault(f"{method}_abs_rel", []).append(abs_rel)
                    scores.setdefault(f"{method}_delta1", []).append(delta1)
            row[kind] = {key: float(np.mean(values)) for key, values in scores.items()}
            r = row[kind]
            print(f"{name:9s} {kind:8s} AbsRel naive {r['naive_abs_rel']:.5f}  robust {r['robust_abs_rel']:.5f}  "
                  f"tgv {r['tgv_abs_rel']:.5f}   delta1 robust {r['robust_delta1']:.4f}  tgv {r['tgv_delta1']:.4f}"
                  f"   s/image robust {r['robust_seconds']:.3f}  tgv {r['tgv_seconds']:.1f}", flush=True)
        results[name] = row
    results["settings"] = {"scenes": args.scenes, "layouts": args.layouts, "size": args.size,
                           "iterations": args.iterations, "threads": torch.get_num_threads()}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
