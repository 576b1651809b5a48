"""What the generation half of the pipeline hands to the decoding half (:class:`Generated`)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field

import numpy as np

from vb_plugins.ensemble import resize_nearest
from vb_plugins.errors import InputError
from vb_plugins.tasks.base import TaskSpec


@dataclass
class GeneratedImage:
    """The paintings of one input image.

    - ``samples[pass][sample]``: uint8 H x W x 3 RGB as the generator painted it (a remote API may paint
      at a size of its own),
    - ``requested_size``: (height, width) the generator was asked for; ``input_size``: the input's, or
      None when only the paintings are known (a batch from elsewhere),
    - ``covered``: bool at the painted size, pixels that hold data (None: all; False where an RGBA
      painting was transparent).
    """

    key: Hashable
    samples: list[list[np.ndarray]]
    requested_size: tuple[int, int]
    input_size: tuple[int, int] | None = None
    covered: np.ndarray | None = None

    @property
    def visualizations(self) -> list[np.ndarray]:
        """Every painting, pass-major then sample."""
        return [image for per_pass in self.samples for image in per_pass]

    @property
    def generated_size(self) -> tuple[int, int]:
        return tuple(int(v) for v in self.samples[0][0].shape[:2])


@dataclass
class Generated:
    """The output of :meth:`vb_plugins.predict.Predictor.generate`, the input of ``decode``: per input image
    the paintings of every pass and ensemble sample (:class:`GeneratedImage`), the prompt of each pass,
    and the settings that made them (``settings``: as prediction records hold them; ``seconds``: generation
    time per image)."""

    task: str
    spec: TaskSpec
    prompts: list[str]
    images: list[GeneratedImage]
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[GeneratedImage]:
        return iter(self.images)

    def __getitem__(self, index: int) -> GeneratedImage:
        return self.images[index]

    @property
    def group(self) -> int:
        """Paintings per input image (passes x samples)."""
        return sum(len(per_pass) for per_pass in self.images[0].samples) if self.images else 0

    def batch(self) -> np.ndarray:
        """Every painting as one uint8 ``[N * group, h, w, 3]`` array (image-major, then pass, then sample),
        at the requested size: nearest-neighbour where a remote model answered at another size, so every
        colour is one the model painted. The images must share their requested size."""
        sizes = {image.requested_size for image in self.images}
        if len(sizes) != 1:
            raise InputError(f"the images were painted at {len(sizes)} sizes; a batch needs one")
        size = sizes.pop()
        return np.stack([painting if painting.shape[:2] == size else resize_nearest(painting, size)
                         for image in self.images for painting in image.visualizations])

    @classmethod
    def from_batch(cls, task: str, spec: TaskSpec, paintings: np.ndarray, group: int, passes: int,
                   covered: np.ndarray | None = None, prompts: list[str] | None = None) -> Generated:
        """Paintings made elsewhere (a ComfyUI graph, files): ``paintings`` uint8 ``[B, h, w, 3]`` holds
        ``group`` consecutive images per input image, pass-major then sample. With a group that is not a
        multiple of the spec's ``passes``, every image is read as the spec's first pass. ``covered``:
        bool ``[B, h, w]`` pixels that hold data (a pixel counts for an input only if it does in all of the
        input's paintings)."""
        if group < 1 or len(paintings) % group:
            raise InputError(f"image: a batch of {len(paintings)} images does not split into groups of {group} "
                             "(group = images per input image: passes x samples)")
        pass_count = passes if group % passes == 0 else 1
        samples = group // pass_count
        size = tuple(int(v) for v in paintings.shape[1:3])
        images = []
        for i, start in enumerate(range(0, len(paintings), group)):
            per_pass = [[paintings[start + p * samples + j] for j in range(samples)] for p in range(pass_count)]
            mask = None if covered is None else covered[start:start + group].all(axis=0)
            images.append(GeneratedImage(i, per_pass, size, None, mask))
        return cls(task, spec, list(prompts or []), images)
