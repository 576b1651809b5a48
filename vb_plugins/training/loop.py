"""What every `vb train` method shares around its optimisation step: the resumable example stream, the
learning-rate schedule, the progress bar, the loss log, periodic checkpoints and the stop poll."""

from __future__ import annotations

import json
import math
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vb_plugins.training.config import TrainConfig


def prefetched_batches(stream, batch_size: int, depth: int = 4):
    """Prefetch batches in a thread: rendering overlaps the optimisation step."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            while not stop.is_set():
                items.put([next(stream) for _ in range(batch_size)])
        except BaseException as error:  # surface data errors in the training loop
            items.put(error)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            batch = items.get()
            if isinstance(batch, BaseException):
                raise batch
            yield batch
    finally:
        stop.set()


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 10%."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def example_batches(config: TrainConfig, sources, step: int):
    """Batches of training examples from ``step`` on, round-robin over ``sources``: example ``i`` depends
    only on the seed and ``i``, so a resumed run draws exactly what the interrupted one would have."""
    from vb_plugins.training.data import Augmentation, examples

    augment = Augmentation(**config.augment)
    consumed = step * config.batch_size  # examples drawn before this run
    count = len(sources)
    streams = [examples(s, config.tasks, config.seed + 7919 * i, config.dialect, augment,
                        start=(consumed - i + count - 1) // count) for i, s in enumerate(sources)]

    def mixed():
        index = consumed
        while True:
            yield next(streams[index % count])
            index += 1

    return prefetched_batches(mixed(), config.batch_size)


class TrainingLoop:
    """Bookkeeping of one run from ``step`` to ``config.steps``::

        loop = TrainingLoop(config, output, step, "vb train", progress, should_stop)
        with loop:
            while loop.step < config.steps:
                loop.set_learning_rate(optimizer)
                ...  # one optimisation step
                loop.finish_step(loss.item(), save_checkpoint_at)
    """

    def __init__(self, config: TrainConfig, output: Path, step: int, description: str, progress: bool = True,
                 should_stop: Callable[[int], bool] | None = None):
        self.config = config
        self.step = step
        self.should_stop = should_stop
        self.log_path = Path(output) / "train_log.jsonl"
        self.began = time.perf_counter()
        self.window: list[float] = []
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=config.steps, initial=step, unit="step", desc=description, file=sys.stderr)

    def __enter__(self) -> TrainingLoop:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar:
            self.bar.close()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.began

    def set_learning_rate(self, optimizer) -> None:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(self.config, self.step)

    def finish_step(self, loss: float, save_checkpoint: Callable[[int], None]) -> None:
        """Count the step; log, checkpoint (``save_checkpoint(step)``) and poll for a stop when due."""
        config = self.config
        self.step += 1
        self.window.append(loss)
        if self.bar:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{np.mean(self.window[-config.log_every:]):.4f}")
        if self.step % config.log_every == 0 or self.step == config.steps:
            record = {"step": self.step, "loss": float(np.mean(self.window)),
                      "lr": learning_rate(config, self.step - 1), "seconds": round(self.seconds, 2)}
            with open(self.log_path, "a") as handle:
                handle.write(json.dumps(record) + "\n")
            self.window = []
        if self.step % config.checkpoint_every == 0 or self.step == config.steps:
            save_checkpoint(self.step)
        if self.should_stop and self.should_stop(self.step):
            from vb_plugins.errors import CancelledError

            raise CancelledError(f"training stopped at step {self.step}; run again to resume")
