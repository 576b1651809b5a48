"""Training data for a time-boxed run: scenes rendered on the device, examples made in worker processes,
kept in a ring buffer on the device that training samples from.

A producer thread renders ``render_batch`` scenes per pass with the torch renderer on the training device
(on CUDA in a side stream, so rendering overlaps the optimisation steps), sends them in small chunks to a
process pool that turns them into examples (numpy: the codecs, JPEG), and stores what comes back in the
buffer, overwriting the oldest entries once it is full. Training never waits for fresh data after the
first fill: when examples come slower than steps consume them, recent examples are reused.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import os
import threading
import time

import numpy as np

CHUNK = 4  # scenes per worker job
FIRST_FILL_TIMEOUT = 120.0  # seconds: longer means the data pipeline is broken


def _quiet_worker() -> None:
    """Worker processes run one thread each: the pool is the parallelism."""
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


def _warm() -> None:
    """Import what the jobs use, so the first jobs do not pay for it."""
    import PIL.Image  # noqa: F401

    import vb_plugins.codecs  # noqa: F401
    import vb_plugins.testing.degrade  # noqa: F401
    import vb_plugins.training.data  # noqa: F401
    import vb_plugins.training.sources  # noqa: F401


def worker_pool(workers: int) -> futures.ProcessPoolExecutor:
    """Processes started fresh (spawn, safe next to CUDA and threads in this process), warming up at once."""
    pool = futures.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_quiet_worker)
    pool.workers = workers
    for _ in range(workers):
        pool.submit(_warm)
    return pool


class DeviceFeed:
    """Ring buffer of examples on ``device``, filled in the background.

    ``render(seeds, device)`` returns a list of picklable payloads, one per scene (it runs in the
    producer thread; should rendering on ``device`` fail, it falls back to the CPU and says so in
    :meth:`stats`); ``job(payloads, seeds)`` runs in the pool and returns a dict of numpy arrays with one row
    per example, plus optionally ``"prompt"``: a list of strings (kept as ids, see :meth:`sample`).
    ``fields`` names the arrays and their torch dtypes on the device.
    """

    def __init__(self, render, job, pool, device, capacity: int, fields: dict, first_seed: int,
                 render_batch: int, job_args=(), inflight: int | None = None):
        self.render, self.job, self.pool, self.job_args = render, job, pool, tuple(job_args)
        self.device = device
        self.capacity = capacity
        self.fields = fields
        self.next_seed = first_seed
        self.render_batch = render_batch
        self.inflight = inflight or 2 * pool.workers
        self.buffers: dict = {}
        self.prompt_ids = None
        self.prompts: list[str] = []
        self._prompt_index: dict[str, int] = {}
        self.filled = 0
        self.position = 0
        self.produced = 0
        self.scenes = 0
        self.render_seconds = 0.0
        self.render_device = device
        self.render_fallback: str | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)

    def __enter__(self) -> DeviceFeed:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    # ------------------------------------------------------------------ producer

    def _produce(self) -> None:
        import torch

        stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        pending: set = set()
        try:
            while not self._stop.is_set():
                seeds = list(range(self.next_seed, self.next_seed + self.render_batch))
                self.next_seed += self.render_batch
                began = time.perf_counter()
                payloads = self._render(seeds, stream)
                self.render_seconds += time.perf_counter() - began
                self.scenes += len(seeds)
                for i in range(0, len(seeds), CHUNK):
                    pending.add(self.pool.submit(self.job, payloads[i:i + CHUNK], seeds[i:i + CHUNK], *self.job_args))
                while len(pending) >= self.inflight and not self._stop.is_set():
                    done, pending = futures.wait(pending, timeout=1.0, return_when=futures.FIRST_COMPLETED)
                    for future in done:
                        self._store(future.result())
                for future in [f for f in pending if f.done()]:
                    pending.discard(future)
                    self._store(future.result())
        except BaseException as error:  # handed to the training loop, which raises it
            self.error = error
        finally:
            for future in pending:
                future.cancel()

    def _render(self, seeds, stream):
        import torch

        try:
            if stream is not None and self.render_device.type == "cuda":
                with torch.cuda.stream(stream):
                    return self.render(seeds, self.render_device)
            return self.render(seeds, self.render_device)
        except Exception as error:  # rendering on the device is the less travelled path: keep training
            if self.render_device.type == "cpu":
                raise
            self.render_fallback = (f"rendering on {self.render_device} failed ({type(error).__name__}: {error}); "
                                    "the CPU rendered instead")
            print(self.render_fallback, flush=True)
            self.render_device = torch.device("cpu")
            return self.render(seeds, self.render_device)

    def _store(self, arrays: dict) -> None:
        import torch

        prompts = arrays.pop("prompt", None)
        count = len(next(iter(arrays.values())))
        count = min(count, self.capacity)
        rows = (self.position + np.arange(count)) % self.capacity
        index = torch.from_numpy(rows).to(self.device)
        with self._lock:
            if not self.buffers:
                for name, dtype in self.fields.items():
                    shape = arrays[name].shape[1:]
                    self.buffers[name] = torch.zeros((self.capacity, *shape), dtype=dtype, device=self.device)
                if prompts is not None:
                    self.prompt_ids = torch.zeros(self.capacity, dtype=torch.long, device=self.device)
            for name in self.fields:
                values = torch.from_numpy(np.ascontiguousarray(arrays[name][:count]))
                self.buffers[name].index_copy_(0, index, values.to(self.device, self.buffers[name].dtype))
            if prompts is not None:
                ids = [self._prompt_index.setdefault(p, len(self._prompt_index)) for p in prompts[:count]]
                self.prompts = list(self._prompt_index)
                self.prompt_ids.index_copy_(0, index, torch.tensor(ids, device=self.device))
            self.position = int((self.position + count) % self.capacity)
            self.filled = min(self.capacity, self.filled + count)
            self.produced += count

    # ------------------------------------------------------------------ consumer

    def wait_for(self, count: int, timeout: float) -> None:
        """Block until ``count`` examples are in the buffer; raises the producer's error or TimeoutError."""
        limit = time.monotonic() + timeout
        while self.filled < min(count, self.capacity):
            if self.error is not None:
                raise self.error
            if time.monotonic() > limit:
                raise TimeoutError(f"only {self.filled} of {count} training examples were ready after {timeout:.0f} s")
            time.sleep(0.05)

    def sample(self, batch: int, generator):
        """(dict of batched tensors, prompt ids or None, the list of prompts the ids index). Indices are
        drawn on the device (``generator`` lives there): no copy from the host, so no wait for the GPU."""
        import torch

        if self.error is not None:
            raise self.error
        with self._lock:
            index = torch.randint(0, self.filled, (batch,), device=self.device, generator=generator)
            tensors = {name: buffer.index_select(0, index) for name, buffer in self.buffers.items()}
            ids = None if self.prompt_ids is None else self.prompt_ids.index_select(0, index)
            return tensors, ids, list(self.prompts)

    def stats(self, seconds: float) -> dict:
        return {"examples_made": self.produced, "scenes_rendered": self.scenes,
                "render_seconds": round(self.render_seconds, 1), "render_device": str(self.render_device),
                "render_fallback": self.render_fallback,
                "examples_per_second": round(self.produced / max(seconds, 1e-9), 1),
                "buffer": self.capacity, "first_seed": self.next_seed - self.scenes, "last_seed": self.next_seed - 1}
