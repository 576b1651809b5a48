"""`vb train` with method: lora on tiny in-code diffusers pipelines: learning, adapters that load back into
the generator, exact resume, clear errors before training."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vb_plugins.cli import main
from vb_plugins.errors import CancelledError, InputError, ModelError
from vb_plugins.training.config import load_config
from vb_plugins.training.lora_trainer import ADAPTER_WEIGHTS, stack_batch, train_lora

FAMILY_DIRS = {}


def tiny_pipeline_dir(tmp_path_factory, family):
    from vb_plugins.testing.tiny_pipeline import save_tiny_pipeline

    if family not in FAMILY_DIRS:
        FAMILY_DIRS[family] = save_tiny_pipeline(family, tmp_path_factory.mktemp(family) / "pipe")
    return FAMILY_DIRS[family]


def config(tmp_path, model, **overrides):
    settings = {
        "output_dir": str(tmp_path / "run"),
        "model": str(model),
        "method": "lora",
        "tasks": ["depth"],
        "data": [{"type": "synthetic", "size": 32, "scenes": 2, "cache_dir": str(tmp_path / "cache")}],
        "augment": {"flip": 0.0, "depth_scheme": 0.0},  # a fixed small set: two scenes, one prompt
        "steps": 6, "batch_size": 2, "checkpoint_every": 3, "log_every": 1, "warmup_steps": 2,
        "learning_rate": 0.03, "threads": 1, "lora": {"rank": 4},
    }
    settings.update(overrides)
    path = tmp_path / "train.json"
    path.write_text(json.dumps(settings))
    return path


@pytest.fixture(scope="module")
def klein_run(tmp_path_factory):
    """One 30-step LoRA run on the tiny FLUX.2 klein, shared by the tests that inspect its results."""
    pipe_dir = tiny_pipeline_dir(tmp_path_factory, "flux2-klein")
    tmp_path = tmp_path_factory.mktemp("klein-run")
    path = config(tmp_path, pipe_dir, steps=30, checkpoint_every=30)
    adapter = train_lora(load_config(path), progress=False)
    return pipe_dir, tmp_path, path, adapter


def fixed_noise_loss(pipe_dir, lora, path, seeds=range(12)):
    """Mean training loss on the first training batch under fixed noise draws, base model or with ``lora``."""
    from diffusers import DiffusionPipeline

    from vb_plugins.training.data import Augmentation, examples
    from vb_plugins.training.lora_objectives import objective_for
    from vb_plugins.training.sources import source_from_config

    cfg = load_config(path)
    stream = examples(source_from_config(cfg.data[0]), cfg.tasks, cfg.seed, cfg.dialect, Augmentation(**cfg.augment))
    images, targets, weights, prompts = stack_batch([next(stream) for _ in range(4)], None, 16)
    pipe = DiffusionPipeline.from_pretrained(str(pipe_dir), use_safetensors=True)
    if lora:
        pipe.load_lora_weights(str(lora))
    objective = objective_for(pipe, "flux2-klein")
    with torch.no_grad():
        return float(np.mean([objective.loss(images, targets, weights, prompts, torch.Generator().manual_seed(s)).item()
                              for s in seeds]))


def test_loss_decreases_on_a_fixed_small_set(klein_run):
    pipe_dir, tmp_path, path, adapter = klein_run
    records = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records]
    assert [r["step"] for r in records] == list(range(1, 31))
    assert np.mean(losses[-8:]) < 0.92 * np.mean(losses[:8])
    # The same batch under the same noise: the trained adapter fits it better than the base model.
    base, tuned = fixed_noise_loss(pipe_dir, None, path), fixed_noise_loss(pipe_dir, adapter, path)
    assert tuned < 0.95 * base


def test_adapter_is_safetensors_with_only_lora_weights(klein_run):
    _, tmp_path, _, adapter = klein_run
    weights = load_file(str(adapter / ADAPTER_WEIGHTS))
    assert weights and all(k.startswith("transformer.") and ".lora_" in k for k in weights)
    assert any("to_q.lora_B" in k for k in weights)
    assert any(float(v.abs().max()) > 0 for k, v in weights.items() if "lora_B" in k)  # B started at zero
    provenance = json.loads((adapter / "vb_lora.json").read_text())
    assert provenance["family"] == "flux2-klein" and provenance["steps"] == 30
    assert provenance["dialect"] == "vision-banana"
    assert provenance["prompt_encodings_this_run"] == 1  # one distinct prompt, encoded once
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-000030"]


def test_adapter_loads_back_into_the_generator_and_changes_outputs(klein_run):
    from vb_plugins.generation import GenerationSettings, load_generator

    pipe_dir, _, _, adapter = klein_run
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    outputs = []
    for lora in (None, str(adapter)):
        generator = load_generator(str(pipe_dir), device="cpu", lora=lora)
        embedding = generator.encode_prompt("paint a depth map")
        outputs.append(generator.generate([image], embedding, [0], (64, 64), GenerationSettings(steps=2))[0])
        # an adapter from `vb train` is prompted in the dialect it learned (vb_lora.json), the base model zero-shot
        assert generator.dialect == ("vision-banana" if lora else "zero-shot")
        if lora:
            loaded = {k: v for k, v in generator.pipe.transformer.state_dict().items() if "lora_B" in k}
            assert loaded, "the adapter did not reach the transformer"
    base, tuned = outputs
    assert base.shape == tuned.shape == (64, 64, 3)
    assert np.abs(base.astype(int) - tuned.astype(int)).mean() > 1.0


def test_interrupted_training_resumes_to_the_same_adapter(tmp_path_factory, tmp_path):
    pipe_dir = tiny_pipeline_dir(tmp_path_factory, "flux2-klein")
    straight = tmp_path / "straight"
    straight.mkdir()
    train_lora(load_config(config(straight, pipe_dir)), progress=False)

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    path = config(resumed, pipe_dir)
    with pytest.raises(CancelledError, match="step 4"):  # interrupted after step 4, checkpoint at 3
        train_lora(load_config(path), progress=False, should_stop=lambda step: step == 4)
    assert sorted(p.name for p in (resumed / "run" / "checkpoints").iterdir()) == ["step-000003"]
    messages = []
    train_lora(load_config(path), progress=False, log=messages.append)
    assert any("resuming" in m and "step 3" in m for m in messages)

    a = load_file(str(straight / "run" / "lora" / ADAPTER_WEIGHTS))
    b = load_file(str(resumed / "run" / "lora" / ADAPTER_WEIGHTS))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def write_model_index(directory, class_name):
    directory.mkdir()
    (directory / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    return directory


@pytest.mark.parametrize("model, error, message", [
    ("vbnet", InputError, "LoRA training needs a diffusers image-editing pipeline"),
    ("FluxPipeline", ModelError, "takes no input image"),
    ("StableDiffusionInstructPix2PixPipeline", ModelError, "family instruct-pix2pix.*no LoRA training recipe"),
    ("StableDiffusionImg2ImgPipeline", ModelError, "family generic.*no LoRA training recipe"),
    ("missing", ModelError, "no such pipeline directory"),
])
def test_unusable_models_fail_before_training(tmp_path, model, error, message):
    if model.endswith("Pipeline"):
        model = write_model_index(tmp_path / "pipe", model)
    elif model == "missing":
        model = tmp_path / "no" / "such" / "pipe"
    with pytest.raises(error, match=message):
        train_lora(load_config(config(tmp_path, model)), progress=False)
    assert not (tmp_path / "run").exists()


def test_bad_lora_settings_fail_before_training(tmp_path_factory, tmp_path):
    pipe_dir = tiny_pipeline_dir(tmp_path_factory, "flux2-klein")
    with pytest.raises(InputError, match="lora.rank=0"):
        train_lora(load_config(config(tmp_path, pipe_dir, lora={"rank": 0})), progress=False)
    with pytest.raises(InputError, match="diffusers: unknown setting.*gudance"):
        train_lora(load_config(config(tmp_path, pipe_dir, diffusers={"gudance": 3})), progress=False)
    with pytest.raises(InputError, match="resolution=40"):
        train_lora(load_config(config(tmp_path, pipe_dir, resolution=40)), progress=False)
    with pytest.raises(InputError, match="lora.target_modules"):
        train_lora(load_config(config(tmp_path, pipe_dir, lora={"rank": 4, "target_modules": ["no_such_layer"]})),
                   progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_kontext_trains_through_the_cli(tmp_path_factory, tmp_path, capsys):
    pipe_dir = tiny_pipeline_dir(tmp_path_factory, "flux-kontext")
    path = config(tmp_path, pipe_dir, steps=3, checkpoint_every=3, resolution=32, tasks=["depth", "normals"],
                  lora={"rank": 4, "alpha": 8})
    assert main(["train", str(path), "--quiet"]) == 0
    adapter = tmp_path / "run" / "lora"
    assert f"model written to {adapter}" in capsys.readouterr().out
    weights = load_file(str(adapter / ADAPTER_WEIGHTS))
    assert any("single_transformer_blocks" in k for k in weights) and any("add_q_proj" in k for k in weights)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert len(losses) == 3 and all(np.isfinite(losses))
    from vb_plugins.generation import load_generator

    generator = load_generator(str(pipe_dir), device="cpu", lora=str(adapter))
    assert any("lora_A" in k for k in generator.pipe.transformer.state_dict())
    (loaded,) = generator.pipe.transformer.peft_config.values()
    assert (loaded.r, loaded.lora_alpha) == (4, 8)  # alpha travels with the adapter (scaling 2, as trained)


@pytest.mark.parametrize("family", ["flux2-klein", "flux-kontext", "qwen-image-edit"])
def test_objective_feeds_the_transformer_as_the_pipeline_does(family):
    """One denoising step of the pipeline itself, recorded at the transformer, against the objective's own
    encoding of the same image, prompt and noisy latents: same reference tokens, same prediction."""
    from PIL import Image

    from vb_plugins.testing.tiny_pipeline import build_tiny_pipeline, fast_call_kwargs
    from vb_plugins.training.lora_objectives import objective_for

    if family == "qwen-image-edit":
        from vb_plugins.testing.tiny_pipeline import require_qwen_vl_processor

        try:
            require_qwen_vl_processor()
        except ModelError as error:
            pytest.skip(str(error))
    pipe = build_tiny_pipeline(family)
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    prompt = "paint a depth map"
    calls = []

    def record(module, args, kwargs, output):
        calls.append((kwargs, output[0]))

    handle = pipe.transformer.register_forward_hook(record, with_kwargs=True)
    extra = {"guidance_scale": 2.5} if family == "flux-kontext" else {}  # the generator's Kontext default
    with torch.no_grad():
        pipe(image=Image.fromarray(image), prompt=prompt, num_inference_steps=2, output_type="latent",
             generator=torch.Generator().manual_seed(0), **fast_call_kwargs(family, 64, 64), **extra)
    handle.remove()
    kwargs, expected = calls[0]
    tokens = (64 // 16) ** 2
    objective = objective_for(pipe, family)
    with torch.no_grad():
        reference = objective.encode_reference([image])
        text = [objective.text(objective.text_key(prompt, image), prompt, image)]
        torch.testing.assert_close(reference["latents"], kwargs["hidden_states"][:, tokens:])
        predicted = objective.velocity(kwargs["hidden_states"][:, :tokens], kwargs["timestep"], text, reference,
                                       (64, 64))
    torch.testing.assert_close(predicted, expected[:, :tokens])


def test_examples_are_fitted_to_the_training_size_without_new_target_colours():
    from vb_plugins.training.data import Example
    from vb_plugins.training.lora_trainer import fit_example

    rng = np.random.default_rng(0)
    palette = np.array([[255, 0, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    target = palette[rng.integers(0, 3, (40, 50))]
    weight = (rng.random((40, 50)) > 0.5).astype(np.float32)
    example = Example(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), "p", target, weight, "semantic")
    image, fitted, fitted_weight = fit_example(example, (32, 32), 16)
    assert image.shape == fitted.shape == (32, 32, 3) and fitted_weight.shape == (32, 32)
    assert {tuple(c) for c in fitted.reshape(-1, 3)} <= {tuple(c) for c in palette}
    assert set(np.unique(fitted_weight)) <= {0.0, 1.0}
    _, cropped, cropped_weight = fit_example(example, None, 16)  # no size: cropped to multiples of 16
    assert cropped.shape == (32, 48, 3) and np.array_equal(cropped, target[:32, :48])
    assert np.array_equal(cropped_weight, weight[:32, :48])


def test_vb_predict_uses_the_adapter(klein_run, tmp_path):
    from PIL import Image

    pipe_dir, _, _, adapter = klein_run
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(["predict", "depth", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--model", str(pipe_dir),
                 "--lora", str(adapter), "--steps", "2", "--quiet"]) == 0
    depth = np.load(tmp_path / "out" / "a.depth.npy")
    record = json.loads((tmp_path / "out" / "a.json").read_text())
    assert "Generate a metric depth map of the input image." in json.dumps(record)  # the trained dialect
    assert depth.shape == (64, 64) and np.isfinite(depth).any()
