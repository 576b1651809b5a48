"""What every `vb train` method shares around its optimisation step: the resumable example stream, the
learning-rate schedule, the progress bar, the loss log, periodic checkpoints and the stop poll."""

from __future__ import annotations

import atexit
import json
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vb_plugins.errors import CancelledError
from vb_plugins.training.config import TrainConfig
from vb_plugins.training.data import Augmentation, examples


class PrefetchedBatches:
    """Batches of ``batch_size`` items of ``stream``, made ahead in a background thread so rendering
    overlaps the optimisation step. An error in the stream is raised by ``next()``.

    Use it as a context manager (or call :meth:`close`): closing stops the thread and waits for it. A
    thread still rendering (in torch) while the interpreter shuts down aborts the process ("terminate
    called without an active exception", exit 134) after a finished run or a Ctrl-C; an exit handler
    closes any instance left open, as a last resort.
    """

    def __init__(self, stream, batch_size: int, depth: int = 4):
        self._items: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(stream, batch_size), daemon=True,
                                        name="vb-train-prefetch")
        atexit.register(self.close)
        self._thread.start()

    def _produce(self, stream, batch_size: int) -> None:
        try:
            while not self._stop.is_set():
                batch = []
                for _ in range(batch_size):
                    if self._stop.is_set():
                        return
                    batch.append(next(stream))
                self._put(batch)
        except BaseException as error:  # surface data errors in the training loop
            self._put(error)

    def _put(self, item) -> None:
        while not self._stop.is_set():  # a full queue must not keep the thread from seeing a stop
            try:
                self._items.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def __iter__(self) -> PrefetchedBatches:
        return self

    def __next__(self) -> list:
        if self._stop.is_set():
            raise StopIteration
        item = self._items.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop the thread and wait until it has finished the item it was making."""
        self._stop.set()
        self._thread.join()
        atexit.unregister(self.close)

    def __enter__(self) -> PrefetchedBatches:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 10%."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def example_batches(config: TrainConfig, sources, step: int) -> PrefetchedBatches:
    """Batches of training examples from ``step`` on, round-robin over ``sources``: example ``i`` depends
    only on the seed and ``i``, so a resumed run draws exactly what the interrupted one would have.
    Close it when done (``with example_batches(...) as batches:``)."""
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

    return PrefetchedBatches(mixed(), config.batch_size)


class TrainingLoop:
    """Bookkeeping of one run from ``step`` to ``config.steps``::

        with TrainingLoop(config, output, step, "vb train", progress, should_stop) as loop:
            with example_batches(config, sources, step) as batches:
                while loop.step < config.steps:
                    loop.set_learning_rate(optimizer)
                    ...  # one optimisation step on next(batches)
                    loop.finish_step(loss.item(), save_checkpoint_at)
    """

    def __init__(self, config: TrainConfig, output: Path, step: int, description: str, progress: bool = True,
                 should_stop: Callable[[int], bool] | None = None):
        self.config = config
        self.step = step
        self.should_stop = should_stop
        self.log_path = Path(output) / "train_log.jsonl"
        self._continue_log(step)
        self.began = time.perf_counter()
        self.window: list[float] = []
        self.bar = None
        if progress:
            self.bar = tqdm(total=config.steps, initial=step, unit="step", desc=description, file=sys.stderr)

    def _continue_log(self, step: int) -> None:
        """Keep the log's records up to ``step``, the checkpoint this run starts from: the steps after it
        are trained (and logged) again, so each step appears once. A line cut short by a crash goes too."""
        if not self.log_path.is_file():
            return
        lines = self.log_path.read_text().splitlines()
        kept = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
                kept.append(line)
        if kept != lines:
            temporary = self.log_path.with_name(self.log_path.name + ".partial")
            temporary.write_text("".join(line + "\n" for line in kept))
            os.replace(temporary, self.log_path)

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
            raise CancelledError(f"training stopped at step {self.step}; run again to resume")
