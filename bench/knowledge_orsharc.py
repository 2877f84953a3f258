"""Knowledge retrieval on OR-ShARC: `python bench/knowledge_orsharc.py [--split dev]`.

The 651 rule passages go in through `import_knowledge` (a JSONL file, one passage a document), the
queries through the real search (`knowledge.selectors.search`, as the runtime and the API call it).
It prints R@1/5/10/20 for three query forms next to BM25 on the same data, the abstention rates
(each instance's gold passage removed from the index: does the AI decline instead of answering?),
and search latency with the index padded to 10,000 passages by LoCoMo dialogue turns. The data
(CC BY-SA 3.0; LoCoMo CC BY-NC 4.0) is read in place from ../shared/benchmarks and never copied.
"""

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _throwaway import ROOT, percentile, setup_django, table  # noqa: E402

DATA = ROOT / ".." / "shared" / "benchmarks"
KS = (1, 5, 10, 20)
FORMS = {
    "question": lambda x: x["question"],
    "scenario + question": lambda x: " ".join(filter(None, [x["scenario"], x["question"]])),
    "scenario + question + history": lambda x: " ".join(
        filter(
            None,
            [x["scenario"], x["question"]]
            + [f"{h['follow_up_question']} {h['follow_up_answer']}" for h in x["history"]],
        )
    ),
}
SCALE_PASSAGES = 10_000
# The targets (dev).
TARGET_R5 = 0.90
TARGET_P95_MS = 20.0
TARGET_ABSTAIN = 0.80
TARGET_ANSWERED = 0.90


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


class BM25:
    """The README's reference: k1 0.9, b 0.4, idf ln(1 + (N - df + 0.5) / (df + 0.5)), no stemming."""

    def __init__(self, docs: dict[str, str], k1: float = 0.9, b: float = 0.4) -> None:
        self.ids = list(docs)
        self.tf = [Counter(tokens(docs[i])) for i in self.ids]
        self.length = [sum(tf.values()) for tf in self.tf]
        self.mean = sum(self.length) / len(self.length)
        df = Counter(w for tf in self.tf for w in tf)
        n = len(self.ids)
        self.idf = {w: math.log(1 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}
        self.k1, self.b = k1, b

    def top(self, query: str, k: int) -> list[str]:
        words = [w for w in tokens(query) if w in self.idf]
        scores = []
        for doc_id, tf, length in zip(self.ids, self.tf, self.length, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self.mean)
            score = sum(self.idf[w] * tf[w] * (self.k1 + 1) / (tf[w] + norm) for w in words if w in tf)
            scores.append((-score, doc_id))
        return [doc_id for _, doc_id in sorted(scores)[:k]]


def title_of(passage: str) -> str:
    """A passage's heading, else its first words: what a help-center article would be titled."""
    match = re.match(r"\s*#+\s*(.+)", passage)
    return match.group(1).strip() if match else " ".join(passage.split()[:8])


def write_jsonl(items: list[dict]) -> Path:
    handle = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")
    with handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    return Path(handle.name)


def distractors(count: int) -> list[dict]:
    """LoCoMo turns, alone and in consecutive pairs: `count` texts that answer none of the questions."""
    turns = []
    for sample in json.loads((DATA / "locomo" / "locomo10.json").read_text()):
        talk = sample["conversation"]
        for key in sorted(k for k in talk if re.fullmatch(r"session_\d+", k)):
            turns.extend(t["text"] for t in talk[key] if t.get("text"))
    texts = turns + [f"{a} {b}" for a, b in zip(turns, turns[1:], strict=False)]
    return [
        {"id": f"locomo-{n}", "title": " ".join(text.split()[:6]), "text": text}
        for n, text in enumerate(texts[:count])
    ]


def recall_rows(instances: list[dict], kb: dict[str, str]) -> tuple[list[list], dict, list[float]]:
    from knowledge import selectors

    bm25 = BM25(kb)
    rows, ours, latencies = [], {}, []
    for form, make in FORMS.items():
        hits = {"Baton": Counter(), "BM25": Counter()}
        for x in instances:
            query, gold = make(x), x["gold_snippet_id"]
            started = time.perf_counter()
            found = [p.external_id for p in selectors.search(query, k=max(KS))]
            latencies.append((time.perf_counter() - started) * 1000)
            reference = bm25.top(query, max(KS))
            for k in KS:
                hits["Baton"][k] += gold in found[:k]
                hits["BM25"][k] += gold in reference[:k]
        for system in ("BM25", "Baton"):
            rates = [hits[system][k] / len(instances) for k in KS]
            rows.append([form, system, *(f"{r:.3f}" for r in rates)])
            if system == "Baton":
                ours[form] = dict(zip(KS, rates, strict=True))
            else:
                ours[form + " (BM25)"] = dict(zip(KS, rates, strict=True))
    return rows, ours, latencies


# (threshold, question coverage) settings printed next to the default: the trade-off on dev.
TRADE_OFF = ((0.55, 0.0), (0.55, 0.25), (0.7, 0.5), (0.78, 0.5), (0.9, 0.7), (1.0, 0.7))
ABSTENTION_FORMS = ("question", "scenario + question")


def abstention(instances: list[dict], settings: list[tuple[float, float]]) -> dict:
    """{(form, threshold, coverage): (answered on the full index, abstained with the gold passage removed)}.

    Each query is searched once per index (full, gold removed); each setting then decides on the
    same passages, as `selectors.answering` does in a turn.
    """
    from knowledge import selectors
    from knowledge.models import Document

    ids = dict(Document.objects.values_list("external_id", "id"))
    every = list(ids.values())
    counts = {(form, t, c): [0, 0] for form in ABSTENTION_FORMS for t, c in settings}
    for x in instances:
        gold = ids[x["gold_snippet_id"]]
        ablated_ids = [i for i in every if i != gold]
        for form in ABSTENTION_FORMS:
            query = FORMS[form](x)
            full = selectors.search(query, k=3)
            ablated = selectors.search(query, k=3, scope=selectors.Scope(ablated_ids, threshold=0))
            for t, c in settings:
                scope = selectors.Scope(None, threshold=t, coverage=c)
                counts[(form, t, c)][0] += bool(selectors.answering(query, full, scope))
                counts[(form, t, c)][1] += not selectors.answering(query, ablated, scope)
    return {key: (a / len(instances), b / len(instances)) for key, (a, b) in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", help="dev (stored here) or test, when you have it")
    parser.add_argument("--data", type=Path, default=DATA / "or-sharc")
    args = parser.parse_args()
    setup_django("knowledge")
    from django.core.management import call_command

    from knowledge import selectors
    from knowledge.models import Passage

    kb = json.loads((args.data / "id2snippet.json").read_text())
    with (args.data / f"open_retrieval_sharc_{args.split}.json").open() as lines:
        instances = [json.loads(line) for line in lines if line.strip()]
    articles = write_jsonl([{"id": k, "title": title_of(t), "text": t} for k, t in kb.items()])
    started = time.perf_counter()
    call_command("import_knowledge", str(articles))
    import_seconds = time.perf_counter() - started
    started = time.perf_counter()
    call_command("import_knowledge", str(articles))  # again: nothing to add
    reimport_seconds = time.perf_counter() - started

    rows, ours, _ = recall_rows(instances, kb)
    from knowledge.models import DEFAULT_ANSWER_THRESHOLD, DEFAULT_QUESTION_COVERAGE

    default = (DEFAULT_ANSWER_THRESHOLD, DEFAULT_QUESTION_COVERAGE)
    rates = abstention(instances, list(dict.fromkeys([default, *TRADE_OFF])))
    answered, abstained = rates[("scenario + question", *default)]

    padding = write_jsonl(distractors(SCALE_PASSAGES - Passage.objects.count()))
    call_command("import_knowledge", str(padding))
    passages = Passage.objects.count()
    latencies, hits = [], 0
    make = FORMS["scenario + question"]
    for x in instances:
        started = time.perf_counter()
        found = selectors.search(make(x), k=5)
        latencies.append((time.perf_counter() - started) * 1000)
        hits += x["gold_snippet_id"] in [p.external_id for p in found]

    print(f"\nOR-ShARC {args.split}: {len(instances)} instances, {len(kb)} passages")
    print(f"import {import_seconds:.1f} s, re-import {reimport_seconds:.1f} s (nothing added)\n")
    print(table(["query form", "retriever", *(f"R@{k}" for k in KS)], rows))
    print()
    print(
        table(
            ["abstention (scenario + question)", "rate", "target"],
            [
                ["answered, gold passage in the index", f"{answered:.3f}", f">= {TARGET_ANSWERED}"],
                ["abstained, gold passage removed", f"{abstained:.3f}", f">= {TARGET_ABSTAIN}"],
            ],
        )
    )
    print(
        f"(default: score >= {DEFAULT_ANSWER_THRESHOLD}, question coverage >= {DEFAULT_QUESTION_COVERAGE})\n"
    )
    print(
        table(
            [
                "score threshold",
                "question coverage",
                *(f"{form}: {what}" for form in ABSTENTION_FORMS for what in ("answered", "abstained")),
            ],
            [
                [f"{t}{' (default)' if (t, c) == default else ''}", c]
                + [f"{rates[(form, t, c)][i]:.3f}" for form in ABSTENTION_FORMS for i in (0, 1)]
                for t, c in dict.fromkeys([default, *TRADE_OFF])
            ],
        )
    )
    print()
    print(
        table(
            ["search at scale (server side)", "value", "target"],
            [
                ["passages", passages, SCALE_PASSAGES],
                ["p50 ms", f"{percentile(latencies, 50):.1f}", ""],
                ["p95 ms", f"{percentile(latencies, 95):.1f}", f"< {TARGET_P95_MS}"],
                ["R@5 scenario + question, with the padding", f"{hits / len(instances):.3f}", ""],
            ],
        )
    )
    failures = []
    if ours["scenario + question"][5] < TARGET_R5:
        failures.append(f"R@5 scenario + question {ours['scenario + question'][5]:.3f} < {TARGET_R5}")
    for form in FORMS:
        if any(ours[form][k] <= ours[form + " (BM25)"][k] for k in KS):
            failures.append(f"not better than BM25 at every k for {form}")
    if percentile(latencies, 95) >= TARGET_P95_MS:
        failures.append(f"search p95 {percentile(latencies, 95):.1f} ms >= {TARGET_P95_MS}")
    if args.split == "dev" and failures:
        print("\nFAILED: " + "; ".join(failures))
        sys.exit(1)
    if not any(a >= TARGET_ANSWERED and b >= TARGET_ABSTAIN for a, b in rates.values()):
        # Reported, not failed: no setting reaches it with this model (README "Knowledge"): the
        # passages left when the gold one is removed are mostly the same page's other rules.
        print(
            f"\nNOT MET: abstention >= {TARGET_ABSTAIN} with answered >= {TARGET_ANSWERED} "
            "at any setting above (see the trade-off)"
        )
    print("\nretrieval and latency targets met" if not failures else "\n(targets are for dev)")


if __name__ == "__main__":
    main()
