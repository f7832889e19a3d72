"""The embedding model through ONNX Runtime: the same vectors as PyTorch, exported once
into the cache, PyTorch when ONNX cannot run the model, and `doctor` saying which runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bare_tui import config
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.measures import diversity, embeddings, onnx_embedder
from bare_tui.errors import BareError
from conftest import CACHE, GSM8K_SEEDS, run_cli

ONNX = embeddings.Embedder(None, "onnx", CACHE)


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The 200 GSM8K seeds as the workspace embeds them (question and answer rendered)."""
    from bare_tui.core.inputs import recipes
    from bare_tui.core.workspace.store import Store

    with Store(tmp_path_factory.mktemp("texts") / "bare.db") as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        found = [item.text for item in embeddings.items(store, task)]
    assert len(found) == 200
    return found


@pytest.mark.models
def test_onnx_vectors_agree_with_pytorch_and_keep_the_diversity_metric(texts: list[str]):
    plain, plain_how = embeddings.loaded(embeddings.Embedder(None, "torch", CACHE))
    onnx, onnx_how = embeddings.loaded(ONNX)
    assert plain_how == "PyTorch (chosen (backend torch))"
    assert onnx_how.startswith("ONNX Runtime, int8 (exported to ")
    ours = onnx.encode(texts)
    reference = plain.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == reference.shape == (200, 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    cosine = (ours * reference).sum(axis=1)
    assert np.median(cosine) >= 0.99 and cosine.min() >= 0.97
    shift = abs(diversity.diversity(ours).mean_similarity
                - diversity.diversity(reference).mean_similarity)
    assert shift <= 0.005
    # Order of the texts does not change a vector (batches are sorted by length).
    assert np.allclose(onnx.encode(texts[::-1])[::-1], ours, atol=1e-5)


@pytest.mark.models
def test_the_export_is_cached_and_a_file_not_ours_is_not_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cache = tmp_path / "cache"
    folder = embeddings.model_path(None)
    first = onnx_embedder.OnnxEncoder.load(folder, cache)
    target = onnx_embedder.cached_file(folder, cache)
    assert first.model_file == target and target.is_file()
    assert oct(target.parent.stat().st_mode & 0o777) == "0o700"
    exports: list[Path] = []
    real_export = onnx_embedder.export
    monkeypatch.setattr(onnx_embedder, "export",
                        lambda f, t: (exports.append(t), real_export(f, t)))
    onnx_embedder.OnnxEncoder.load(folder, cache)
    assert exports == []  # the second load reads the cached file
    # A link planted where the file was is replaced by a fresh export, not followed.
    planted = tmp_path / "planted.onnx"
    shutil.copy(target, planted)
    target.unlink()
    target.symlink_to(planted)
    again = onnx_embedder.OnnxEncoder.load(folder, cache)
    assert exports == [target] and not target.is_symlink() and again.encode(["x"]).shape == (1, 384)
    # A damaged file is exported again too.
    target.write_bytes(b"not a model")
    onnx_embedder.OnnxEncoder.load(folder, cache)
    assert len(exports) == 2 and target.stat().st_size > 1_000_000


def test_a_model_onnx_cannot_run_falls_back_to_pytorch_or_says_why(tmp_path: Path):
    folder = tmp_path / "cls-model"
    shutil.copytree(embeddings.model_path(None), folder)
    pooling = folder / "1_Pooling" / "config.json"
    settings = json.loads(pooling.read_text())
    pooling.write_text(json.dumps(settings | {"pooling_mode_mean_tokens": False,
                                              "pooling_mode_cls_token": True}))
    assert onnx_embedder.unsupported(folder) == \
        "it pools by pooling_mode_cls_token, not the mean of its tokens"
    model, how = embeddings.loaded(embeddings.Embedder(str(folder), "auto", tmp_path))
    assert how == "PyTorch (it pools by pooling_mode_cls_token, not the mean of its tokens)"
    assert type(model).__name__ == "SentenceTransformer"
    with pytest.raises(BareError, match="^cannot run .*cls-model through ONNX Runtime: it "
                                        "pools by pooling_mode_cls_token"):
        embeddings.load_model(embeddings.Embedder(str(folder), "onnx", tmp_path))
    with pytest.raises(BareError, match="unknown embedding backend 'gpu': choose auto, "
                                        "onnx, torch"):
        embeddings.load_model(embeddings.Embedder(None, "gpu", tmp_path))
    assert not (tmp_path / "embeddings").exists()  # nothing exported for it


def test_the_backend_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert config.load().embedder == embeddings.Embedder(None, "auto", config.load().cache_dir)
    (tmp_path / "bare-tui.toml").write_text('[diversity]\nbackend = "torch"\n')
    monkeypatch.chdir(tmp_path)
    assert config.load().embedder.backend == "torch"
    monkeypatch.setenv("BARE_TUI_EMBEDDING_BACKEND", "onnx")
    monkeypatch.setenv("BARE_TUI_CACHE", str(tmp_path / "c"))
    assert config.load().embedder == embeddings.Embedder(None, "onnx", tmp_path / "c")


@pytest.mark.models
def test_doctor_says_which_backend_runs_the_embedding_model(tmp_path: Path):
    result = run_cli("doctor", "--db", str(tmp_path / "w.db"))
    line = next(x for x in result.stdout.splitlines() if " embedding model: " in x)
    assert line.startswith("ok   embedding model: all-MiniLM-L6-v2 at ")
    assert "runs on ONNX Runtime, int8 (exported to " in line
    result = run_cli("doctor", "--db", str(tmp_path / "w.db"),
                     env={**os.environ, "BARE_TUI_EMBEDDING_BACKEND": "torch"})
    line = next(x for x in result.stdout.splitlines() if " embedding model: " in x)
    assert "runs on PyTorch (chosen (backend torch))" in line
