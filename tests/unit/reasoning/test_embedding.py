from __future__ import annotations

import numpy as np
import pytest

from kgimagine.errors import ReasoningError

from kgimagine.reasoning.embedding import MiniLMEmbedder, TrialEmbeddings, minilm_model_dir
from kgimagine.reasoning.retrieval import AnchorIndex, ResolvedTarget
from tests.unit.reasoning import graph_fixture as G


class CountingEmbedder:
    """Bag-of-words hashing embedder (deterministic, no model) that counts encoded texts."""

    model_id = "test/bow"

    def __init__(self):
        self.encoded = 0

    def encode(self, texts):
        self.encoded += len(texts)
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % 64] += 1
            n = np.linalg.norm(out[i])
            out[i] /= n if n else 1
        return out


def test_embeddings_are_cached_per_graph_version(rstore, tmp_path):
    emb = CountingEmbedder()
    AnchorIndex.build(rstore, embedder=emb, cache_dir=tmp_path)
    assert emb.encoded == 7  # the seven labelled trials
    files = list((tmp_path / "embeddings").glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith(rstore.graph_version())
    emb2 = CountingEmbedder()
    AnchorIndex.build(rstore, embedder=emb2, cache_dir=tmp_path)
    assert emb2.encoded == 0


def test_text_similarity_changes_ranking(rstore):
    target = ResolvedTarget(text="type 2 diabetes HbA1c diet and exercise")  # no graph ids at all
    idx = AnchorIndex.build(rstore, embedder=CountingEmbedder())
    anchors = idx.retrieve(target, k=2)
    assert anchors[0].trial_id == G.trial(6)
    assert AnchorIndex.build(rstore).retrieve(target, k=2) == []  # without text nothing is similar


def test_minilm_loads_offline_and_ranks_related_text_higher():
    try:
        minilm_model_dir()
    except ReasoningError as exc:
        pytest.skip(f"MiniLM wheel not installed: {exc}")
    e = MiniLMEmbedder()
    v = e.encode(["advanced liver cancer, Child-Pugh A", "hepatocellular carcinoma", "type 2 diabetes on metformin"])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])
    sims = TrialEmbeddings(["a", "b"], v[1:]).similarities(v[0])
    assert sims["a"] > sims["b"]
