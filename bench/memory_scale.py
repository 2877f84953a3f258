"""Memory at scale: `python bench/memory_scale.py [--customers 1000 --per-customer 100]`.

Loads 100,000 observations over 1,000 customers into a throwaway PostgreSQL, then measures
recall latency server-side (with and without the query embedding, exact per-customer search vs
the HNSW index with iterative scan) and through the HTTP Recall API on a real Daphne, and the
extraction throughput of the offline extractor (messages/s, embedding included).

To load 100k rows in minutes on 2 cores, observation texts come from a pool of distinct generated
sentences embedded once; each stored vector is its sentence's vector plus a little noise.
"""

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _throwaway import ROOT, percentile, setup_django, table  # noqa: E402

PRODUCTS = (
    "blender espresso machine kettle toaster air fryer vacuum cleaner desk lamp office chair standing desk "
    "hiking boots running shoes backpack tent sleeping bag water bottle headphones smartwatch tablet laptop "
    "phone case charger keyboard mouse monitor speaker camera tripod coffee grinder rice cooker"
).split(" ")
PRODUCTS = [" ".join(p) for p in zip(PRODUCTS[::2], PRODUCTS[1::2], strict=False)] + PRODUCTS
ISSUES = (
    "arrived broken",
    "stopped working after a week",
    "makes a grinding noise",
    "was the wrong color",
    "never arrived",
    "is missing a part",
    "was delivered late",
    "has a cracked screen",
    "leaks water",
    "does not fit",
)
PREFERENCES = (
    "prefers email over phone calls",
    "wants deliveries before noon",
    "likes eco-friendly packaging",
    "asks for gift wrapping",
    "prefers store credit to refunds",
    "wants text message updates",
)
FACTS = (
    "lives in {city}",
    "works night shifts as a nurse in {city}",
    "is moving to {city} next month",
    "has two dogs and a cat",
    "is training for a marathon in {city}",
    "runs a small cafe in {city}",
)
CITIES = "Denver Austin Boston Seattle Portland Chicago Miami Phoenix Atlanta Detroit Reno Salem".split()
QUESTIONS = (
    "Is my {p} still broken?",
    "What happened with the {p} order?",
    "How does the customer like to be contacted?",
    "Where does the customer live?",
    "Any problem with the {p}?",
    "Did the {p} arrive on time?",
)


def pool_texts(size: int, rng: random.Random) -> list[str]:
    texts: set[str] = set()
    while len(texts) < size:
        roll = rng.random()
        product, city = rng.choice(PRODUCTS), rng.choice(CITIES)
        if roll < 0.5:
            texts.add(f"The {product} from order #W{rng.randint(1000000, 9999999)} {rng.choice(ISSUES)}.")
        elif roll < 0.7:
            texts.add(
                f"Customer {rng.choice(PREFERENCES)} for the {product}, order #W{rng.randint(1000000, 9999999)}."
            )
        else:
            texts.add(
                f"Customer {rng.choice(FACTS).format(city=city)} and bought a {product} in {rng.randint(2019, 2026)}."
            )
    return sorted(texts)


def noisy(vector, rng: random.Random, sigma: float = 0.02) -> list[float]:
    out = [x + rng.gauss(0, sigma) for x in vector]
    norm = sum(x * x for x in out) ** 0.5
    return [x / norm for x in out]


def load(customers: int, per_customer: int, rng: random.Random) -> tuple[list, float]:
    from conversations.models import Customer
    from infra import embeddings
    from memory.models import Observation
    from memory.services import fingerprint, reconcile_profile

    pool = pool_texts(max(per_customer * 30, 3000), rng)
    vectors = embeddings.embed(pool)
    rows = Customer.objects.bulk_create([Customer(display_name=f"Customer {n}") for n in range(customers)])
    started = time.perf_counter()
    batch: list[Observation] = []
    for customer in rows:
        for index in rng.sample(range(len(pool)), per_customer):
            batch.append(
                Observation(
                    customer=customer,
                    text=pool[index],
                    kind=rng.choice(["fact", "issue", "preference", "intent"]),
                    embedding=noisy(vectors[index], rng),
                    fingerprint=fingerprint(pool[index]),
                    message_external_ids=[f"m-{uuid.uuid4().hex[:8]}"],
                )
            )
        if len(batch) >= 5000:
            Observation.objects.bulk_create(batch)
            batch = []
    Observation.objects.bulk_create(batch)
    seconds = time.perf_counter() - started
    for customer in rows[:50]:
        reconcile_profile(customer_id=customer.id)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE memory_observation")
    return rows, seconds


def queries(n: int, rng: random.Random) -> list[str]:
    asked: set[str] = set()
    while len(asked) < n:
        asked.add(rng.choice(QUESTIONS).format(p=rng.choice(PRODUCTS)) + f" (case {rng.randint(1, 10**6)})")
    return sorted(asked)


def measure_recall(customers: list, asked: list[str], rng: random.Random) -> dict[str, list[float]]:
    from infra import embeddings
    from memory.selectors import recall

    timings: dict[str, list[float]] = {"cold": [], "embed": [], "db": [], "results": []}
    for query in asked:
        customer = rng.choice(customers)
        t = time.perf_counter()
        found = recall(customer_id=customer.id, query=query, k=10)
        timings["cold"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        embeddings.embed([query + " again"])
        timings["embed"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        recall(customer_id=customer.id, query=query, k=10)  # the query vector is cached now: database only
        timings["db"].append((time.perf_counter() - t) * 1000)
        timings["results"].append(len(found))
    return timings


def measure_hnsw(customers: list, asked: list[str], rng: random.Random) -> tuple[list[float], float, str]:
    """The same recalls with the customer indexes set aside, so PostgreSQL must use HNSW (iterative scan)."""
    from django.db import connection

    from memory.selectors import recall

    pairs = [(rng.choice(customers), q) for q in asked]
    exact = {q: [r.id for r in recall(customer_id=c.id, query=q, k=10)] for c, q in pairs}
    with connection.cursor() as cursor:
        # Every index that leads with customer_id (the partial one and the foreign key's) is set aside.
        cursor.execute(
            "SELECT indexrelid FROM pg_index WHERE indrelid = 'memory_observation'::regclass AND indkey[0] = "
            "(SELECT attnum FROM pg_attribute WHERE attrelid = 'memory_observation'::regclass "
            "AND attname = 'customer_id')"
        )
        customer_indexes = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = ANY(%s)", [customer_indexes]
        )
    try:
        times, overlap = [], []
        for customer, query in pairs:
            t = time.perf_counter()
            found = [r.id for r in recall(customer_id=customer.id, query=query, k=10)]
            times.append((time.perf_counter() - t) * 1000)
            expected = exact[query]
            overlap.append(len(set(found) & set(expected)) / max(len(expected), 1))
        from infra import embeddings
        from memory import selectors

        customer, query = pairs[0]
        vector = "[" + ",".join(f"{x:.6f}" for x in embeddings.embed_query(query)) + "]"
        params = {"customer": customer.id, "vector": vector, "query": query, "candidates": 50}
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + selectors._RECALL_SQL, params)
            plan = " ".join(r[0] for r in cursor.fetchall())
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE pg_index SET indisvalid = true WHERE indexrelid = ANY(%s)", [customer_indexes]
            )
    used = "HNSW (iterative scan)" if "observation_embedding_hnsw" in plan else "no HNSW in plan"
    return times, sum(overlap) / len(overlap), used


def measure_http(url: str, customers: list, asked: list[str], rng: random.Random) -> list[float]:
    import httpx

    from conversations.api_tokens import create_api_token
    from tests.live_server import free_port

    token = create_api_token(name=f"bench-{uuid.uuid4().hex[:6]}").raw
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BATON_PORT": str(port),
        "DJANGO_SETTINGS_MODULE": "deskapp.settings",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "deskapp.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("Daphne did not start")
                time.sleep(0.3)
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(5):  # the model loads on the first request if the warm-up has not finished
                client.post(
                    "/api/memory/recall",
                    json={"customer_id": str(customers[0].id), "query": "warm up"},
                    headers=headers,
                )
            times = []
            for query in asked:
                body = {"customer_id": str(rng.choice(customers).id), "query": query, "k": 10}
                t = time.perf_counter()
                response = client.post("/api/memory/recall", json=body, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200, response.text
            return times
    finally:
        server.terminate()
        server.wait(timeout=20)


def measure_extraction(rng: random.Random, conversations: int = 20, per_conversation: int = 25) -> float:
    from datetime import timedelta

    from django.utils import timezone

    from conversations.models import Conversation, Customer, Message
    from memory.services import extract_observations

    ids = []
    for n in range(conversations):
        customer = Customer.objects.create(display_name=f"Extraction {n}")
        conversation = Conversation.objects.create(customer=customer, channel="webchat")
        start = timezone.now()
        Message.objects.bulk_create(
            [
                Message(
                    conversation=conversation,
                    role="customer",
                    text=rng.choice(
                        [
                            f"My {rng.choice(PRODUCTS)} {rng.choice(ISSUES)}, order #W{rng.randint(1000000, 9999999)}.",
                            f"I {rng.choice(['prefer', 'like'])} {rng.choice(['email', 'texts', 'calls'])} and I live in {rng.choice(CITIES)}.",
                            f"I want to return the {rng.choice(PRODUCTS)}. My new address is {rng.randint(1, 999)} Oak Street, {rng.choice(CITIES)} {rng.randint(10000, 99999)}.",
                            "ok thanks",
                        ]
                    ),
                    external_id=f"x{i}",
                    created_at=start + timedelta(seconds=i),
                )
                for i in range(per_conversation)
            ]
        )
        ids.append(conversation.id)
    started = time.perf_counter()
    for conversation_id in ids:
        extract_observations(conversation_id=conversation_id)
    return conversations * per_conversation / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--per-customer", type=int, default=100)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    url = setup_django("scale")
    from infra import embeddings

    rng = random.Random(7)
    embeddings.warm_up()
    customers, load_seconds = load(args.customers, args.per_customer, rng)
    total = args.customers * args.per_customer
    recall_times = measure_recall(customers, queries(args.queries, rng), rng)
    hnsw_times, hnsw_overlap, hnsw_plan = measure_hnsw(customers, queries(args.queries, rng), rng)
    http_times = measure_http(url, customers, queries(args.queries, rng), rng)
    throughput = measure_extraction(rng)

    def row(label: str, values: list[float]) -> list:
        return [label, len(values), f"{percentile(values, 50):.1f}", f"{percentile(values, 95):.1f}"]

    print(
        f"Memory at scale: {total:,} observations over {args.customers:,} customers (loaded in {load_seconds:.0f} s)"
    )
    print(
        table(
            ["recall (k=10)", "calls", "p50 ms", "p95 ms"],
            [
                row("server-side, new query (embedding + database)", recall_times["cold"]),
                row("  of which: query embedding alone", recall_times["embed"]),
                row("server-side, cached query vector (database only)", recall_times["db"]),
                row(f"database only, customer indexes off: {hnsw_plan}", hnsw_times),
                row("HTTP POST /api/memory/recall on Daphne (client-side)", http_times),
            ],
        )
    )
    print()
    print(
        table(
            ["measure", "value"],
            [
                [
                    "mean observations returned (relevance cut, k=10)",
                    f"{sum(recall_times['results']) / len(recall_times['results']):.1f}",
                ],
                [f"{hnsw_plan} top-10 overlap with exact per-customer search", f"{hnsw_overlap:.3f}"],
                [
                    "extraction throughput (offline extractor + embedding + storage)",
                    f"{throughput:.0f} messages/s",
                ],
            ],
        )
    )


if __name__ == "__main__":
    main()
