"""Render a batch of scene specs to images and exact per-pixel ground truth (torch tensors).

Ground truth comes from one ray through each pixel centre. The image starts from the same rays and is
then supersampled where it needs it: pixels whose colour or visible primitive differs from a
neighbour's get ``supersample**2`` stratified rays whose mean colour replaces the centre sample.
"""

from __future__ import annotations

import torch

from vb_plugins.training.scenes.pack import CAMERA, SceneBatch, pack, per_ray
from vb_plugins.training.scenes.raycast import closest_hit, surface
from vb_plugins.training.scenes.shading import shade_hits, sky
from vb_plugins.training.scenes.spec import SceneSpec

EDGE_THRESHOLD = 0.05  # display-space colour step (0..1) between neighbours that triggers supersampling
EXPOSURE = 1.5
WHITE = 2.5  # exposed linear value that maps to display white


def to_display(linear: torch.Tensor) -> torch.Tensor:
    """Linear RGB -> display values in [0, 1]: exposure, a Reinhard curve with a white point (soft
    highlights), then a gamma of 2 (a square root: correctly rounded on every device)."""
    x = torch.clamp(linear, min=0.0) * EXPOSURE
    x = x * (1.0 + x * (1.0 / (WHITE * WHITE))) / (1.0 + x)
    return torch.sqrt(torch.clamp(x, 0.0, 1.0))


def camera_rays(batch: SceneBatch, bi: torch.Tensor, u: torch.Tensor, v: torch.Tensor):
    """Ray origins (one per scene, three (B,) tensors) and directions (three (m,) tensors) through pixel
    coordinates u (column) and v (row). Directions have a forward component of 1, so the ray
    parameter of a hit is its z-depth."""
    c = per_ray(batch, batch.camera, bi, CAMERA)
    x = (u - c["cx"]) / c["f"]
    y = (c["cy"] - v) / c["f"]
    d = [c["r" + a] * x + c["u" + a] * y - c["b" + a] for a in "xyz"]
    return [batch.camera[:, i] for i in range(3)], d


def cast(batch: SceneBatch, bi, u, v, ground_truth: bool):
    """Trace and shade flat rays (scene index ``bi``, pixel coordinates ``u``, ``v``; all (m,)).

    Returns the linear-RGB colour (m, 3) and, with ``ground_truth``, z-depth (m,) (inf where nothing is
    hit), camera-frame unit normals (m, 3) (zero where nothing is hit) and the global index of the
    visible primitive (m,) (-1 where nothing is hit); otherwise Nones.
    """
    o_scene, d = camera_rays(batch, bi, u, v)
    hit, prim = closest_hit(batch, bi, o_scene, d, origin_per_scene=True)
    hits, misses = hit.nonzero().squeeze(1), (~hit).nonzero().squeeze(1)
    colour = torch.empty((u.numel(), 3), device=batch.device)

    b_hit = bi[hits]
    o = [x[0] for x in o_scene] if batch.size == 1 else [x[b_hit] for x in o_scene]
    dh = [x[hits] for x in d]
    t, p, n, q = surface(batch, b_hit, o, dh, prim[hits])
    colour[hits] = torch.stack(shade_hits(batch, b_hit, o, dh, t, p, n, q, prim[hits]), -1)
    colour[misses] = torch.stack(sky(batch, bi[misses], [x[misses] for x in d]), -1)
    if not ground_truth:
        return colour, None, None, None

    depth = torch.full((u.numel(),), float("inf"), device=batch.device)
    depth[hits] = t
    c = per_ray(batch, batch.camera, b_hit, CAMERA)
    normals = torch.zeros((u.numel(), 3), device=batch.device)
    for j, axis in enumerate("rub"):  # camera right, up and back axes
        normals[hits, j] = n[0] * c[axis + "x"] + n[1] * c[axis + "y"] + n[2] * c[axis + "z"]
    return colour, depth, normals, torch.where(hit, prim, -1)


def _edge_pixels(display: torch.Tensor, prim: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, H, W) mask of pixels that differ from their right or lower neighbour."""
    dx = ((display[:, :, 1:] - display[:, :, :-1]).abs().amax(-1) > threshold) | (prim[:, :, 1:] != prim[:, :, :-1])
    dy = ((display[:, 1:] - display[:, :-1]).abs().amax(-1) > threshold) | (prim[:, 1:] != prim[:, :-1])
    edges = torch.zeros(prim.shape, dtype=torch.bool, device=prim.device)
    edges[:, :, 1:] |= dx
    edges[:, :, :-1] |= dx
    edges[:, 1:] |= dy
    edges[:, :-1] |= dy
    return edges


def render_batch(specs: list[SceneSpec], height: int, width: int, device: torch.device, supersample: int = 2,
                 edge_threshold: float = EDGE_THRESHOLD, group: int | None = None) -> dict[str, torch.Tensor]:
    """Render scenes of one size. Returns batched tensors on ``device``:

    ``image`` (B, H, W, 3) uint8, ``depth`` (B, H, W) float32 z-depth in metres (inf: nothing hit),
    ``normals`` (B, H, W, 3) float32 camera-frame unit normals (0 where nothing is hit), ``valid``
    (B, H, W) bool, ``semantic`` (B, H, W) uint8, ``instance`` (B, H, W) int32.

    ``group`` scenes share one vectorised pass (primitive tables padded to the largest scene among
    them). The default is 1 on CPU, where the work is compute-bound and padding is waste, and the
    whole batch elsewhere (GPU), where fewer, larger kernels pay. Results do not depend on it.
    """
    if group is None:
        group = 1 if device.type == "cpu" else len(specs)
    group = max(1, int(group))
    parts = [_render_group(specs[i:i + group], height, width, device, supersample, edge_threshold)
             for i in range(0, len(specs), group)]
    return parts[0] if len(parts) == 1 else {k: torch.cat([part[k] for part in parts]) for k in parts[0]}


def _render_group(specs, height, width, device, supersample, edge_threshold):
    batch = pack(specs, height, width, device)
    B, N = len(specs), height * width
    bi = torch.arange(B, device=device).repeat_interleave(N)
    pixel = torch.arange(N, device=device).repeat(B)
    u, v = (pixel % width).to(torch.float32), (pixel // width).to(torch.float32)
    colour, depth, normals, prim = cast(batch, bi, u, v, ground_truth=True)
    display = to_display(colour)

    if supersample > 1:
        edges = _edge_pixels(display.view(B, height, width, 3), prim.view(B, height, width), edge_threshold)
        sel = edges.view(-1).nonzero().squeeze(1)
        if sel.numel():
            offsets = (torch.arange(supersample, dtype=torch.float32, device=device) + 0.5) / supersample - 0.5
            oy, ox = (g.reshape(-1) for g in torch.meshgrid(offsets, offsets, indexing="ij"))
            s = ox.numel()
            sub = cast(batch, bi[sel].repeat_interleave(s), (u[sel][:, None] + ox).reshape(-1),
                       (v[sel][:, None] + oy).reshape(-1), ground_truth=False)[0].view(-1, s, 3)
            acc = sub[:, 0]
            for k in range(1, s):  # an explicit sum: the same order of additions in every batch
                acc = acc + sub[:, k]
            display[sel] = to_display(acc * (1.0 / s))

    image = torch.clamp(torch.floor(display * 255.0 + 0.5), 0, 255).to(torch.uint8)
    valid = prim >= 0
    safe = torch.clamp(prim, min=0)
    semantic = torch.where(valid, batch.semantic[bi, safe], 0).to(torch.uint8)
    instance = torch.where(valid, batch.instance[bi, safe], 0).to(torch.int32)
    shape = (B, height, width)
    return {
        "image": image.view(*shape, 3),
        "depth": depth.view(shape),
        "normals": normals.view(*shape, 3),
        "valid": valid.view(shape),
        "semantic": semantic.view(shape),
        "instance": instance.view(shape),
    }
