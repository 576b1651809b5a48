"""Small in-code generators for tests, demos and plugin authors' tests (no weights, no downloads).

- :class:`TinyTorchGenerator`: a random-weight conv net conditioned on the prompt, with per-image
  seeded noise — deterministic per seed whatever the batch, and it counts prompt encodings.
- :class:`PaintingGenerator`: paints what a function returns for each input (e.g. the encoded ground
  truth of a synthetic scene), optionally with seeded noise: a "perfect model" for end-to-end tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from vb_plugins.errors import CancelledError
from vb_plugins.generation.base import GenerationSettings, Generator


class TinyTorchGenerator(Generator):
    """A two-layer conv net with random weights; the prompt selects a bias vector. CPU, milliseconds."""

    name = "tiny-torch"
    multiple = 8
    megapixels = 0.004  # 64 x 64
    default_steps = 2

    def __init__(self, seed: int = 0, channels: int = 8, dialect: str = "vision-banana"):
        import torch

        self.dialect = dialect
        generator = torch.Generator().manual_seed(seed)
        self.conv1 = torch.nn.Conv2d(3 + channels, channels, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(channels, 3, 3, padding=1)
        for parameter in (*self.conv1.parameters(), *self.conv2.parameters()):
            parameter.data = torch.randn(parameter.shape, generator=generator) * 0.3
        self.channels = channels
        self.prompt_encodings = 0
        self.calls: list[int] = []  # batch size of each generate call

    def encode_prompt(self, prompt: str):
        import torch

        self.prompt_encodings += 1
        digest = hashlib.sha256(prompt.encode()).digest()
        seed = int.from_bytes(digest[:8], "little") % (2**63)
        return torch.randn(self.channels, generator=torch.Generator().manual_seed(seed))

    def generate(self, images, prompt_embedding, seeds, size, settings: GenerationSettings, on_step=None,
                 should_stop=None) -> list[np.ndarray]:
        import torch

        self.calls.append(len(images))
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
        # Per-image noise from per-image generators: the batch cannot change an image's output.
        noise = torch.stack([torch.randn((self.channels,) + tuple(size), generator=torch.Generator().manual_seed(s))
                             for s in seeds])
        h = noise + prompt_embedding[None, :, None, None]
        steps = settings.steps or self.default_steps
        with torch.no_grad():
            for step in range(steps):
                if should_stop and should_stop():
                    raise CancelledError("cancelled during generation")
                h = torch.tanh(self.conv1(torch.cat([x, h], dim=1)))
                if on_step:
                    on_step(step + 1, steps)
            out = torch.sigmoid(self.conv2(h))
        return [np.rint(o.permute(1, 2, 0).numpy() * 255).astype(np.uint8) for o in out]


class PaintingGenerator(Generator):
    """Returns ``paint(image, prompt)`` for each input (uint8 RGB at the generation size), plus Gaussian
    noise of ``noise`` 8-bit levels drawn from each job's seed."""

    name = "painting"
    multiple = 8
    megapixels = 0.0164  # 128 x 128

    def __init__(self, paint: Callable[[np.ndarray, str], np.ndarray], noise: float = 0.0,
                 dialect: str = "vision-banana", megapixels: float | None = None):
        self.paint = paint
        self.noise = noise
        self.dialect = dialect
        if megapixels:
            self.megapixels = megapixels
        self.prompt_encodings = 0

    def encode_prompt(self, prompt: str) -> str:
        self.prompt_encodings += 1
        return prompt

    def generate(self, images: Sequence[np.ndarray], prompt_embedding, seeds, size, settings, on_step=None,
                 should_stop=None) -> list[np.ndarray]:
        outputs = []
        for image, seed in zip(images, seeds):
            painted = np.asarray(self.paint(image, prompt_embedding), dtype=np.uint8)
            if self.noise:
                jitter = np.random.default_rng(seed).normal(0, self.noise, painted.shape)
                painted = np.clip(np.rint(painted + jitter), 0, 255).astype(np.uint8)
            outputs.append(painted)
        return outputs
