"""Fixtures for the Gemini tests: a fake Generative Language server on loopback."""

import pytest
from gemini_fake import FakeGemini


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = FakeGemini()
    yield server
    server.close()
    assert not server.problems, server.problems


@pytest.fixture
def sleeps():
    return []
