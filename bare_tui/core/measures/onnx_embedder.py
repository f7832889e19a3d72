"""A sentence-transformers model of the BERT family with mean pooling (all-MiniLM-L6-v2,
the default) run through ONNX Runtime instead of PyTorch: about 2.3 times the texts per
second on a 2-core CPU, with the same vectors to within a cosine of 0.998 (median;
`bench/diversity.py --backend` measures both on the same texts).

The model is exported once from its PyTorch weights, its attention and layer norms fused
by ONNX Runtime's transformer optimiser, and the weights of two of its matrix products
per layer (the feed-forward input and the attention output) quantised to int8, per
channel. Quantising the others too is faster still, but moves the mean pairwise
similarity, the BARE diversity metric, by 0.006 to 0.01; these two move it by under
0.002. The exported file is kept in the cache folder under a key of the weights it came
from, and is checked against PyTorch on a few sentences before it is trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Changing how the model is exported changes this, and so the cache key.
RECIPE = "bert-fused/int8-per-channel/intermediate+attention-output/v1"
QUANTISED = ("/intermediate/dense/MatMul", "/attention/output/dense/MatMul")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
LABEL = "ONNX Runtime, int8"
# The export must give these sentences the vectors PyTorch gives them, to this cosine.
PROBES = ("Natalia sold clips to 48 of her friends in April.",
          "What is the sum of the first ten odd numbers?",
          "The answer is 72.")
AGREEMENT = 0.98


class ExportError(Exception):
    """The model cannot run through ONNX Runtime; the message says why, in one line."""


def missing_parts() -> str | None:
    """Why ONNX Runtime cannot be used at all in this environment, or None."""
    import importlib.util

    absent = [name for name in ("onnxruntime", "onnx") if importlib.util.find_spec(name) is None]
    return f"{' and '.join(absent)} not installed (pip install onnxruntime onnx)" if absent \
        else None


def unsupported(folder: Path) -> str | None:
    """Why this model folder cannot run through ONNX Runtime, or None when it can."""
    missing = missing_parts()
    if missing:
        return missing
    try:
        modules = [m.get("type", "") for m in _json(folder / "modules.json")]
        pooling = _json(folder / "1_Pooling" / "config.json")
        model_type = _json(folder / "config.json").get("model_type")
    except (OSError, ValueError, AttributeError):
        return "not a sentence-transformers folder with modules.json, pooling and config"
    kinds = [name.rsplit(".", 1)[-1] for name in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"its modules are {', '.join(kinds)}, not a transformer, pooling (and normalize)"
    modes = sorted(key for key, on in pooling.items() if key.startswith("pooling_mode") and on)
    if modes != ["pooling_mode_mean_tokens"]:
        return f"it pools by {', '.join(modes) or 'nothing'}, not the mean of its tokens"
    if model_type != "bert":
        return f"its architecture is {model_type}, not bert"
    if not (folder / "tokenizer.json").is_file():
        return "it has no tokenizer.json"
    return None


def cached_file(folder: Path, cache: Path) -> Path:
    """Where the exported model of this folder is (or will be) kept."""
    key = hashlib.sha256(RECIPE.encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".json", ".safetensors", ".bin", ".txt"):
            info = path.stat()
            key.update(f"{path.relative_to(folder)}:{info.st_size}:{info.st_mtime_ns}".encode())
    return (cache / "embeddings" / f"{folder.parent.name}.{folder.name}-{key.hexdigest()[:16]}"
            / "model.onnx")


def _ours(path: Path) -> bool:
    """A regular file (not a link) this user owns: one this program wrote."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and info.st_size > 0


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


class OnnxEncoder:
    """Unit vectors of texts, as `SentenceTransformer.encode(normalize_embeddings=True)`
    gives them: tokenised by the model's own tokenizer.json, truncated to its
    max_seq_length, mean-pooled over real tokens, in batches of similar length."""

    label = LABEL

    def __init__(self, folder: Path, model_file: Path):
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(_max_length(folder))
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(model_file), options,
                                                    providers=["CPUExecutionProvider"])
        self.model_file = model_file

    @classmethod
    def load(cls, folder: Path, cache: Path) -> OnnxEncoder:
        """The cached export of the folder's model, exported first when there is none, or
        again when the cached file is not one this user wrote or does not load."""
        target = cached_file(folder, cache)
        if _ours(target):
            try:
                return cls(folder, target)
            except Exception:  # noqa: BLE001, S110 - a damaged file: export it again
                pass
        export(folder, target)
        try:
            return cls(folder, target)
        except Exception as exc:  # noqa: BLE001 - say why, and PyTorch runs instead
            raise ExportError(f"cannot load {target}: {exc}") from None

    def encode(self, texts: Sequence[str], batch_size: int = 64, **_: Any) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            out[chosen] = self._batch([texts[i] for i in chosen])
        return out

    @property
    def dimension(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1])

    def _batch(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encoded):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                         "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.where(norms > 0, norms, 1)


def _max_length(folder: Path) -> int:
    try:
        return int(_json(folder / "sentence_bert_config.json")["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 512


def export(folder: Path, target: Path) -> None:
    """Export, fuse and quantise the folder's model into `target`, written whole or not
    at all (another process exporting at the same time writes the same file)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    except OSError as exc:
        raise ExportError(f"cannot write the ONNX model into {target.parent}: "
                          f"{exc.strerror or exc}") from None
    try:
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            reference = _export_fused(folder, work)
            _quantise(work / "fused.onnx", work / "model.onnx")
        _check(OnnxEncoder(folder, work / "model.onnx"), reference)
        os.replace(work / "model.onnx", target)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - any exporter failure means: run PyTorch
        raise ExportError(f"the ONNX export failed: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export_fused(folder: Path, work: Path) -> np.ndarray:
    """Write work/fused.onnx; return PyTorch's vectors of the probe sentences."""
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    reference = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True,
                             show_progress_bar=False)
    bert = model[0].auto_model.eval()
    # The plain attention exports as operators ONNX Runtime fuses into one Attention node.
    if hasattr(bert, "set_attn_implementation"):
        bert.set_attn_implementation("eager")
    bert.config._attn_implementation = "eager"  # noqa: SLF001 - older transformers
    example = model.tokenizer(list(PROBES[:2]), padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.onnx.export(_hidden(bert), tuple(example[name] for name in INPUTS),
                          str(work / "plain.onnx"), input_names=list(INPUTS),
                          output_names=["hidden"], opset_version=17, dynamo=False,
                          dynamic_axes={name: {0: "batch", 1: "tokens"}
                                        for name in (*INPUTS, "hidden")})
    config = bert.config
    fused = optimize_model(str(work / "plain.onnx"), model_type="bert",
                           num_heads=config.num_attention_heads, hidden_size=config.hidden_size)
    fused.save_model_to_file(str(work / "fused.onnx"))
    return reference


def _quantise(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = [node.name for node in onnx.load(str(source)).graph.node
             if node.op_type == "MatMul" and node.name.endswith(QUANTISED)]
    if not nodes:
        raise ExportError("the exported graph has none of the layers that are quantised")
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     nodes_to_quantize=nodes,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _check(encoder: OnnxEncoder, reference: np.ndarray) -> None:
    agreement = float(np.min((encoder.encode(list(PROBES)) * reference).sum(axis=1)))
    if agreement < AGREEMENT:
        raise ExportError(f"the ONNX model disagrees with PyTorch (cosine {agreement:.3f} "
                          f"on a probe sentence, under {AGREEMENT})")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence ONNX Runtime's quantiser, which logs advice on the root logger."""
    level = logging.root.level
    logging.root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logging.root.setLevel(level)


def _hidden(bert: Any) -> Any:
    """The transformer with positional inputs and its last hidden state as the output."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    return Hidden()
