"""Embeddings: offline, deterministic, unit length, independent of the batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segmint.errors import DataValidationError, SegmintError
from segmint.text import UnknownModelError, embed, embedding_dim, resolve_model

SRC = Path(__file__).resolve().parents[2] / "src"
MODELS = ["default", "hashing"]
TEXTS = [
    "My card has not arrived yet",
    "where is my new card?",
    "I want a refund for this purchase",
    "The exchange rate you gave me was wrong",
    "",
]

# Runs in a fresh process with the network cut (socket connect and DNS raise) and an empty home,
# so a download or a write to a cache would fail or leave a file behind.
_OFFLINE_SCRIPT = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
import numpy as np
from segmint.text import embed
E = embed(sys.argv[1:], model="default")
# the same vectors as WordLlama's own pipeline on the same bundled files
import importlib.util, pathlib
from wordllama import WordLlama
root = pathlib.Path(importlib.util.find_spec("wordllama").submodule_search_locations[0])
ref = WordLlama.load(dim=256, cache_dir=root, disable_download=True).embed(sys.argv[1:], norm=True)
print(json.dumps({"shape": list(E.shape), "max_diff": float(np.abs(E - ref).max())}))
"""


def test_default_model_loads_offline_and_downloads_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(SRC),
        "HOME": str(home),
        "HF_HOME": str(home / "hf"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    texts = TEXTS[:4]
    out = subprocess.run(
        [sys.executable, "-c", _OFFLINE_SCRIPT, *texts],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [4, 256]
    assert result["max_diff"] < 1e-6
    assert list(home.rglob("*")) == []


@pytest.mark.parametrize("model", MODELS)
def test_rows_are_unit_length_float32_and_deterministic(model):
    E = embed(TEXTS, model=model)
    assert E.dtype == np.float32
    assert E.shape == (len(TEXTS), embedding_dim(model))
    np.testing.assert_allclose(np.linalg.norm(E[:-1], axis=1), 1.0, atol=1e-5)
    # a message with no tokens has nothing to point at: a zero row, not NaN
    assert not E[-1].any()
    np.testing.assert_array_equal(E, embed(TEXTS, model=model))


@pytest.mark.parametrize("model", MODELS)
def test_a_message_embeds_the_same_alone_or_in_a_batch(model):
    together = embed(TEXTS, model=model)
    alone = np.vstack([embed([t], model=model) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_similar_messages_are_closer(model):
    card, card2, refund = embed(TEXTS[:3], model=model)
    assert card @ card2 > card @ refund


def test_empty_input_gives_an_empty_matrix():
    assert embed([], model="default").shape == (0, 256)
    assert embed([], model="hashing").shape == (0, 512)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(UnknownModelError, match=r"unknown embedding model 'bert'.*'hashing'"):
        embed(["hello"], model="bert")
    assert issubclass(UnknownModelError, SegmintError)
    assert resolve_model("default") == resolve_model("wordllama") == "wordllama-l2-256"


def test_bad_input_is_refused():
    with pytest.raises(DataValidationError, match="single str"):
        embed("one message")
    with pytest.raises(DataValidationError, match=r"texts\[1\] is NoneType"):
        embed(["fine", None])
    with pytest.raises(DataValidationError, match=r"texts\[0\] is float \(nan\)"):
        embed([float("nan")])
