import shutil
from pathlib import Path

import pytest

from bare_tui.core.generation import model_files
from bare_tui.core.generation.gguf import GGUFError, read_metadata
from bare_tui.errors import BareError
from conftest import CACHE


def test_embedded_models_resolve_offline_with_metadata(base_model, instruct_model):
    assert base_model.origin == "embedded" and base_model.default_role == "base"
    assert base_model.architecture == "gemma3"
    assert base_model.context_length == 32768
    assert not base_model.has_chat_template  # a pretrained base model
    assert base_model.sha256 == (
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818")
    assert instruct_model.architecture == "llama"
    assert instruct_model.has_chat_template
    assert instruct_model.context_length == 8192
    assert len(instruct_model.sha256) == 64


def test_user_models_are_found_by_name_in_models_dir(base_model, tmp_path: Path):
    target = tmp_path / "my-base.gguf"
    target.symlink_to(base_model.path)
    assert [m.name for m in model_files.user_models(tmp_path, CACHE)] == ["my-base"]
    assert model_files.resolve("my-base", "base", tmp_path, CACHE).path == target
    assert model_files.resolve("my-base.gguf", "base", tmp_path, CACHE).path == target
    assert model_files.resolve(str(target), "base", Path("nowhere"), CACHE).path == target


def test_bad_model_files_are_one_line_errors(base_model, tmp_path: Path):
    (tmp_path / "text.gguf").write_text("hello, not a model")
    with pytest.raises(BareError, match="is not a GGUF file"):
        model_files.resolve("text", "base", tmp_path, CACHE)
    cut = tmp_path / "cut.gguf"
    with base_model.path.open("rb") as source:
        cut.write_bytes(source.read(5000))
    with pytest.raises(BareError, match="corrupt or truncated GGUF file"):
        model_files.resolve(str(cut), "base", tmp_path, CACHE)
    with pytest.raises(BareError, match="base model not found: nope"):
        model_files.resolve("nope", "base", tmp_path, CACHE)


def test_gguf_header_reader_on_the_real_file(base_model):
    metadata = read_metadata(base_model.path)
    assert metadata["GGUF.version"] in (2, 3)
    assert metadata["general.architecture"] == "gemma3"
    assert str(metadata["tokenizer.ggml.tokens"]).startswith("<array of ")
    with pytest.raises(GGUFError):
        read_metadata(Path(__file__))


def test_gguf_with_intact_header_but_missing_tensors_fails_to_load(base_model, tmp_path):
    from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend

    half = tmp_path / "half.gguf"
    with base_model.path.open("rb") as source, half.open("wb") as out:
        shutil.copyfileobj(source, out, length=1 << 20)
        out.truncate(base_model.size_bytes // 2)
    model = model_files.resolve(str(half), "base", tmp_path, CACHE)  # the header alone is fine
    with pytest.raises(BareError, match="cannot load model"):
        LlamaCppBackend(model)


def test_sha256_is_cached_per_file_version(tmp_path: Path):
    cache = tmp_path / "cache"
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    first = model_files.file_sha256(path, cache)
    assert first == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert (cache / "sha256.json").is_file()
    path.write_bytes(b"abcd")
    assert model_files.file_sha256(path, cache) != first
