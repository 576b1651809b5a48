"""Tiny offline pipelines: build, save as safetensors, load back with diffusers, edit deterministically."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from vb_plugins.errors import InputError, ModelError  # noqa: E402
from vb_plugins.testing.tiny_pipeline import (  # noqa: E402
    FAMILIES,
    build_tiny_pipeline,
    fast_call_kwargs,
    main,
    parameter_counts,
    require_qwen_vl_processor,
    save_tiny_pipeline,
)

PIPELINE_CLASSES = {
    "flux2-klein": "Flux2KleinPipeline",
    "qwen-image-edit": "QwenImageEditPipeline",
    "flux-kontext": "FluxKontextPipeline",
    "instruct-pix2pix": "StableDiffusionInstructPix2PixPipeline",
}
WIDTH, HEIGHT = 80, 64  # not square, so a swapped width/height shows


def skip_if_unbuildable(family):
    if family == "qwen-image-edit":
        try:
            require_qwen_vl_processor()
        except ModelError as error:
            pytest.skip(str(error))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """family -> pipeline saved by save_tiny_pipeline and loaded by DiffusionPipeline.from_pretrained."""
    cache = {}

    def load(family):
        if family not in cache:
            skip_if_unbuildable(family)
            path = save_tiny_pipeline(family, tmp_path_factory.mktemp(family))
            pipeline = diffusers.DiffusionPipeline.from_pretrained(path, use_safetensors=True)
            pipeline.set_progress_bar_config(disable=True)
            cache[family] = (path, pipeline)
        return cache[family]

    return load


def input_image():
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))


def edit(pipeline, family, seed, prompt="paint a depth map of the scene"):
    return pipeline(
        image=input_image(),
        prompt=prompt,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(seed),
        **fast_call_kwargs(family, WIDTH, HEIGHT),
    ).images


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_pipeline_loads_and_edits_deterministically(family, loaded):
    path, pipeline = loaded(family)
    assert type(pipeline).__name__ == PIPELINE_CLASSES[family]
    assert list(path.rglob("*.safetensors")) and not list(path.rglob("*.bin"))

    first, again, other = edit(pipeline, family, 0), edit(pipeline, family, 0), edit(pipeline, family, 1)
    reworded = edit(pipeline, family, 0, prompt="segment the red car")
    assert len(first) == 1 and isinstance(first[0], Image.Image)
    assert first[0].size == (WIDTH, HEIGHT) and first[0].mode == "RGB"
    assert np.array_equal(np.asarray(first[0]), np.asarray(again[0]))
    assert max_difference(first[0], other[0]) > 10  # 8-bit levels
    assert max_difference(first[0], reworded[0]) > 3  # the prompt matters, if less than the seed


def max_difference(image, other):
    return np.abs(np.asarray(image, dtype=int) - np.asarray(other, dtype=int)).max()


def test_loaded_pipeline_matches_the_built_one(loaded):
    _, pipeline = loaded("flux-kontext")
    built = build_tiny_pipeline("flux-kontext")  # modules must be in eval mode, like loaded ones
    np.testing.assert_allclose(
        np.asarray(edit(built, "flux-kontext", 5)[0], dtype=int),
        np.asarray(edit(pipeline, "flux-kontext", 5)[0], dtype=int),
        atol=1,
    )


def test_weights_are_a_function_of_the_seed_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a, b, c = (build_tiny_pipeline("flux2-klein", seed=s).transformer.state_dict() for s in (0, 0, 1))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("family", FAMILIES)
def test_components_are_tiny(family):
    skip_if_unbuildable(family)
    counts = parameter_counts(build_tiny_pipeline(family))
    assert counts and all(0 < n < 300_000 for n in counts.values()), counts


def test_overrides_replace_components_and_flags():
    pipeline = build_tiny_pipeline("flux2-klein", is_distilled=False)
    assert pipeline.config.is_distilled is False
    with pytest.raises(InputError, match="not constructor arguments"):
        build_tiny_pipeline("flux2-klein", unet=None)


def test_unknown_family_is_an_input_error():
    with pytest.raises(InputError, match="unknown tiny pipeline family"):
        build_tiny_pipeline("sdxl")


def test_qwen_tokenizer_drops_exactly_the_system_prompt():
    # QwenImageEditPipeline drops the first 64 tokens of its template: the real tokenizer's system
    # turn and user header. Ours must agree, so prompt embeddings start at the vision tokens.
    from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit import QwenImageEditPipeline

    from vb_plugins.testing.tiny_pipeline import _qwen_tokenizer

    template = QwenImageEditPipeline.__init__.__code__.co_consts  # the template is a literal in __init__
    template = next(c for c in template if isinstance(c, str) and c.startswith("<|im_start|>system"))
    tokenizer = _qwen_tokenizer()
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(template.format("paint a depth map")).input_ids)
    assert tokens[61:64] == ["<|im_start|>", "user", "Ċ"]  # the last dropped tokens
    assert tokens[64] == "<|vision_start|>"  # the first kept one


def test_cli_help_lists_families():
    result = subprocess.run([sys.executable, "-m", "vb_plugins.testing.tiny_pipeline", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for family in FAMILIES:
        assert family in result.stdout


def test_cli_out_writes_a_loadable_pipeline(tmp_path, capsys):
    out = tmp_path / "tiny-klein"
    assert main(["--family", "flux2-klein", "--out", str(out), "--seed", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    pipeline = diffusers.DiffusionPipeline.from_pretrained(out, use_safetensors=True)
    assert type(pipeline).__name__ == "Flux2KleinPipeline"
    assert pipeline.config.is_distilled is True


def test_cli_rejects_unknown_family(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--family", "nope", "--out", "x"])
    assert exit_info.value.code != 0
    assert "invalid choice" in capsys.readouterr().err


def test_klein_chat_template_renders_like_qwen3_without_thinking():
    tokenizer = build_tiny_pipeline("flux2-klein").tokenizer
    text = tokenizer.apply_chat_template([{"role": "user", "content": "paint"}], tokenize=False,
                                         add_generation_prompt=True, enable_thinking=False)
    assert text == "<|im_start|>user\npaint<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def test_cli_explains_in_one_line_when_a_family_cannot_be_built_here(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision.transforms.v2.functional", None)  # as if torchvision were absent
    with pytest.raises(ModelError):
        require_qwen_vl_processor()
    assert main(["--family", "qwen-image-edit", "--out", str(tmp_path / "qwen")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "torchvision" in lines[0]
    assert not (tmp_path / "qwen").exists()
