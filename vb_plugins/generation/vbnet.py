"""VBNet: a small image-conditioned flow-matching generator trained from scratch.

It paints the task visualization for an input image in pixel space: the network sees the input image
and the noisy target, a time step and a prompt, and predicts the flow velocity ``noise - target``
(rectified flow). Sampling integrates from pure noise at t = 1 to the painting at t = 0 in a few Euler
steps. The prompt is read by a bag of hashed word uni- and bigrams — small, but it follows the wordings
it was trained on, which is what switching tasks by prompt needs.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from vb_plugins.errors import CancelledError


@dataclass
class VBNetConfig:
    channels: tuple[int, ...] = (32, 64, 96, 128)
    blocks_per_level: int = 1
    text_vocab: int = 4096
    cond_dim: int = 128
    resolution: int = 128  # native generation size (square area; any multiple of ``multiple`` works)
    multiple: int = 8  # 2 ** (levels - 1)
    default_steps: int = 4
    dialect: str = "vision-banana"
    tasks: list[str] = field(default_factory=lambda: ["depth", "normals"])

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> VBNetConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "channels" in known:
            known["channels"] = tuple(known["channels"])
        return cls(**known)


_WORD = re.compile(r"[a-z]+|\d+")


def prompt_tokens(prompt: str, vocab: int) -> list[int]:
    """Hashed word unigrams and bigrams of a prompt (lower-cased), as ids in 1..vocab-1 (0 = padding)."""
    words = _WORD.findall(prompt.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return [1 + zlib.crc32(g.encode()) % (vocab - 1) for g in grams] or [0]


class PromptEncoder(nn.Module):
    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.vocab = vocab
        self.embedding = nn.EmbeddingBag(vocab, dim, mode="mean", padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, prompts: list[str]) -> torch.Tensor:
        return self.encode_tokens(*self.tokenize(prompts))

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(token ids, bag offsets) of ``prompts`` on the encoder's device; a training loop that reuses
        them skips a host-to-device copy (and on a GPU a wait for it) per step."""
        device = self.embedding.weight.device
        ids = [torch.tensor(prompt_tokens(p, self.vocab), dtype=torch.long) for p in prompts]
        offsets = torch.tensor([0] + [len(i) for i in ids[:-1]], dtype=torch.long).cumsum(0)
        return torch.cat(ids).to(device), offsets.to(device)

    def encode_tokens(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embedding(ids, offsets))


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    frequencies = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    angles = t[:, None] * 1000.0 * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """Conv block with FiLM conditioning (scale and shift from the prompt + time vector)."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.film = nn.Linear(cond_dim, 2 * c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return h + self.skip(x)


class GlobalContext(nn.Module):
    """Adds an image-wide summary to every position: metric scale needs the whole scene."""

    def __init__(self, channels: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(x.mean(dim=(2, 3)))[:, :, None, None]


class VBNet(nn.Module):
    """U-Net over [input image, noisy target] -> velocity, conditioned on prompt and time."""

    def __init__(self, config: VBNetConfig):
        super().__init__()
        self.config = config
        ch = list(config.channels)
        cond = config.cond_dim
        self.prompt_encoder = PromptEncoder(config.text_vocab, cond)
        self.time_mlp = nn.Sequential(nn.Linear(cond, cond), nn.SiLU(), nn.Linear(cond, cond))
        self.stem = nn.Conv2d(6, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for level, c in enumerate(ch):
            c_in = ch[max(level - 1, 0)]
            blocks = [ResBlock(c_in if b == 0 else c, c, cond) for b in range(config.blocks_per_level)]
            self.down.append(nn.ModuleList(blocks))
            if level < len(ch) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = nn.ModuleList([ResBlock(ch[-1], ch[-1], cond), ResBlock(ch[-1], ch[-1], cond)])
        self.context = GlobalContext(ch[-1])
        self.up = nn.ModuleList()
        for level in reversed(range(len(ch) - 1)):
            self.up.append(ResBlock(ch[level + 1] + ch[level], ch[level], cond))
        self.out_norm = nn.GroupNorm(8, ch[0])
        self.out = nn.Conv2d(ch[0], 3, 3, padding=1)

    def condition(self, prompts: list[str]) -> torch.Tensor:
        return self.prompt_encoder(prompts)

    def forward(self, image: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, prompt_cond: torch.Tensor):
        """image, x_t: B x 3 x H x W in [-1, 1]; t: B in [0, 1]; prompt_cond: B x cond_dim -> velocity."""
        cond = prompt_cond + self.time_mlp(time_embedding(t, self.config.cond_dim).to(prompt_cond.dtype))
        h = self.stem(torch.cat([image, x_t], dim=1))
        skips = []
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, cond)
            if level < len(self.downsample):
                skips.append(h)
                h = self.downsample[level](h)
        for block in self.mid:
            h = block(h, cond)
        h = self.context(h)
        for block in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), cond)
        return self.out(F.silu(self.out_norm(h)))


def sample(model: VBNet, image: torch.Tensor, prompt_cond: torch.Tensor, noise: torch.Tensor, steps: int,
           on_step=None, should_stop=None) -> torch.Tensor:
    """Euler integration of the learned flow from t = 1 (noise) to t = 0; returns B x 3 x H x W in [-1, 1]."""
    x = noise
    times = torch.linspace(1.0, 0.0, steps + 1, device=noise.device)
    for i in range(steps):
        if should_stop and should_stop():
            raise CancelledError("cancelled during generation")
        t = times[i].expand(x.shape[0])
        velocity = model(image, x, t, prompt_cond)
        x = x + (times[i + 1] - times[i]) * velocity
        if on_step:
            on_step(i + 1, steps)
    return x.clamp(-1.0, 1.0)


def flow_matching_loss(model: VBNet, image: torch.Tensor, target: torch.Tensor, prompt_cond: torch.Tensor,
                       generator: torch.Generator | None = None, weight: torch.Tensor | None = None,
                       terminal_fraction: float = 0.0) -> torch.Tensor:
    """Rectified-flow loss: x_t = (1 - t) target + t noise, regress velocity noise - target.

    t is drawn from a logit-normal (as in SD3 / FLUX training) so the mid-range, where the image
    content is decided, gets most of the samples. A logit-normal almost never draws t near 1, yet
    few-step sampling starts there and its first step decides the layout of the whole map, so
    ``terminal_fraction`` of the examples are trained at exactly t = 1 (pure noise: the velocity is a
    regression from the input image alone). ``weight`` (B x 1 x H x W) masks invalid GT pixels.
    """
    batch = target.shape[0]
    noise = torch.randn(target.shape, generator=generator, device=target.device)
    t = torch.sigmoid(torch.randn(batch, generator=generator, device=target.device))
    if terminal_fraction > 0:
        terminal = torch.rand(batch, generator=generator, device=target.device) < terminal_fraction
        t = torch.where(terminal, torch.ones_like(t), t)
    x_t = (1 - t)[:, None, None, None] * target + t[:, None, None, None] * noise
    error = (model(image, x_t, t, prompt_cond) - (noise - target)) ** 2
    if weight is None:
        return error.mean()
    return (error * weight).sum() / (weight.sum() * error.shape[1]).clamp_min(1.0)
