"""Full training of a VBNet from scratch (or from a VBNet directory) with the flow-matching objective."""

from __future__ import annotations

import copy
import json
import platform
from pathlib import Path

import numpy as np
import torch

from vb_plugins.errors import InputError
from vb_plugins.generation.bundled import MODEL_CONFIG, load_vbnet, pick_device, save_vbnet
from vb_plugins.generation.vbnet import VBNet, VBNetConfig, flow_matching_loss
from vb_plugins.training.checkpoints import latest_checkpoint, load_checkpoint, resume_run, save_checkpoint
from vb_plugins.training.config import TrainConfig, load_config
from vb_plugins.training.loop import TrainingLoop, example_batches
from vb_plugins.training.sources import source_from_config


def load_checkpoint_model(output_dir: Path, checkpoint: Path | None = None):
    """The EMA weights of a checkpoint (default: the newest in ``output_dir``) as a VBNet on the CPU."""
    output_dir = Path(output_dir)
    checkpoint = checkpoint or latest_checkpoint(output_dir)
    if checkpoint is None or not (output_dir / "config.json").is_file():
        raise InputError(f"{output_dir}: no `vb train` checkpoint found")
    config = load_config(output_dir / "config.json")
    if config.model not in ("vbnet", "", None):  # initialised from a model directory: its architecture
        architecture = json.loads((Path(config.model) / MODEL_CONFIG).read_text())["config"]
    else:
        architecture = {**config.vbnet, "tasks": list(config.tasks), "dialect": config.dialect}
    model = VBNet(VBNetConfig.from_dict(architecture))
    loaded = load_checkpoint(checkpoint)
    model.load_state_dict(loaded.get("ema", loaded["model"]))
    return model.eval()


def _images_to_tensor(images, device):
    """uint8 H x W x 3 images -> a float N x 3 x H x W batch in [-1, 1]."""
    return torch.from_numpy(np.stack(images)).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


def train_vbnet(config: TrainConfig, progress=True, log=print, should_stop=None) -> Path:
    """Train; resumes from the latest checkpoint in ``output_dir``. Returns the exported model directory.

    ``should_stop(step)`` is polled after every step; a stop raises :class:`CancelledError` and a later
    run resumes from the newest checkpoint (as after a crash or Ctrl-C).
    """
    if config.threads:
        torch.set_num_threads(int(config.threads))
    output = Path(config.output_dir)
    sources = [source_from_config(d) for d in config.data]
    for source in sources:
        source.check(config.tasks)  # missing ground truth is an error before any training
    device = pick_device(config.device)
    if config.model in ("vbnet", "", None):
        with torch.random.fork_rng(devices=[]):  # initial weights follow the config's seed
            torch.manual_seed(config.seed)
            model = VBNet(VBNetConfig.from_dict({**config.vbnet, "tasks": list(config.tasks),
                                                 "dialect": config.dialect}))
    else:
        model, _, _ = load_vbnet(Path(config.model), device)
    model.to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

    def restore_weights(loaded):
        model.load_state_dict(loaded["model"])
        ema.load_state_dict(loaded["ema"])

    step = resume_run(config, output, optimizer, restore_weights, log)

    with TrainingLoop(config, output, step, "vb train", progress, should_stop) as loop, \
            example_batches(config, sources, step) as batches:
        model.train()

        def save(at_step):
            save_checkpoint(output, at_step, model.state_dict(), optimizer, {"ema": ema.state_dict()},
                            {"fingerprint": config.fingerprint()}, config.keep_checkpoints)

        while loop.step < config.steps:
            step = loop.step
            batch = next(batches)
            image = _images_to_tensor([e.image for e in batch], device)
            target = _images_to_tensor([e.target for e in batch], device)
            weight = torch.from_numpy(np.stack([e.weight for e in batch])).to(device)[:, None]
            loop.set_learning_rate(optimizer)
            cond = model.condition([e.prompt for e in batch])
            noise_rng = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + step)
            loss = flow_matching_loss(model, image, target, cond, noise_rng, weight, config.terminal_fraction)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            with torch.no_grad():
                decay = min(config.ema_decay, (1 + step) / (10 + step))
                for p_ema, p in zip(ema.parameters(), model.parameters()):
                    p_ema.lerp_(p, 1 - decay)
                for b_ema, b in zip(ema.buffers(), model.buffers()):
                    b_ema.copy_(b)
            loop.finish_step(loss.item(), save)
    step = loop.step
    provenance = {
        "trained_with": "vb train",
        "config": config.to_dict(),
        "steps": step,
        "hardware": f"{platform.machine()} {platform.processor() or ''} device={device}".strip(),
        "torch": torch.__version__,
        "train_seconds_this_run": round(loop.seconds, 1),
    }
    return save_vbnet(ema, output / "model", provenance)
