"""Fixtures for the rewriter and presence-gate tests: a fake Gemini server on loopback (text questions and image
edits), and tiny random-weight vision-language models saved as safetensors folders."""

import pytest
from gemini_vlm_fake import FakeGeminiVLM


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = FakeGeminiVLM()
    yield server
    server.close()
    assert not server.problems, server.problems


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory):
    """A tiny Qwen2-VL folder (config, safetensors weights, tokenizer, image processor, chat template)."""
    from vb_plugins.testing.tiny_vlm import save_tiny_vlm

    return save_tiny_vlm(tmp_path_factory.mktemp("tiny-qwen2-vl"), "qwen2-vl", seed=0)


@pytest.fixture(scope="session")
def tiny_vlm_25(tmp_path_factory):
    from vb_plugins.testing.tiny_vlm import save_tiny_vlm

    return save_tiny_vlm(tmp_path_factory.mktemp("tiny-qwen2.5-vl"), "qwen2.5-vl", seed=1)
