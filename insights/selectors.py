"""Reads of the insights app: outcomes, AI vs human comparison with Wilson intervals, alert metrics.

Definitions (one place, used by the API, the page and the alerts):
- a conversation's arm is its `assigned_handler`: who the rollout gave it to when it opened,
  so a handoff never moves a conversation from the AI's numbers to the humans';
- escalated: a handoff other than the rollout's own (customer request, rule, LLM failure,
  supervisor, ...) or the outcome `escalated`;
- resolved: outcome `resolved`, and for the AI arm without an escalation (resolved *by the AI*);
- rates are over closed conversations (those with an outcome); handle time is closed_at - created_at.

Knowledge gaps (questions no article answered) are grouped by meaning with what agents replied.
"""

import logging
import math
import re
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from conversations.models import Conversation, Message, UseCase
from handoff.models import CopilotDraft, Handoff
from infra import embeddings, worker_health
from knowledge.models import Document, Source

from .models import AlertRule, KnowledgeGap

logger = logging.getLogger(__name__)

Z_95 = 1.959964
PARITY_MIN_CLOSED = 30  # per arm, before any verdict
PARITY_MARGIN = 0.05  # the AI may trail humans by at most 5 points (non-inferiority margin)
PARITY_TEXT = "AI at parity with humans — consider widening the slice"
ARMS = ("ai", "human")


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); None when n is 0."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Row:
    """One conversation as the insights see it."""

    id: uuid.UUID
    arm: str
    channel: str
    use_case: str | None
    outcome: str
    escalated: bool
    created_at: datetime
    closed_at: datetime | None

    @property
    def closed(self) -> bool:
        return bool(self.outcome)

    @property
    def resolved(self) -> bool:
        if self.outcome != Conversation.Outcome.RESOLVED:
            return False
        return self.arm == "human" or not self.escalated

    @property
    def path(self) -> str:
        """resolved_by_ai | resolved_by_human_after_handoff | resolved_by_human | the outcome itself | open."""
        if not self.outcome:
            return "open"
        if self.outcome == Conversation.Outcome.RESOLVED:
            if self.arm == "ai":
                return "resolved_by_human_after_handoff" if self.escalated else "resolved_by_ai"
            return "resolved_by_human"
        return self.outcome

    @property
    def handle_seconds(self) -> float | None:
        return (self.closed_at - self.created_at).total_seconds() if self.closed_at else None


@dataclass
class ArmStats:
    conversations: int = 0
    closed: int = 0
    resolved: int = 0
    escalated: int = 0
    handle_seconds: list[float] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.conversations += 1
        if not row.closed:
            return
        self.closed += 1
        self.resolved += row.resolved
        self.escalated += row.escalated or row.outcome == Conversation.Outcome.ESCALATED
        if row.handle_seconds is not None:
            self.handle_seconds.append(row.handle_seconds)

    @property
    def resolution_rate(self) -> float | None:
        return self.resolved / self.closed if self.closed else None

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.closed if self.closed else None

    @property
    def resolution_ci(self) -> tuple[float, float] | None:
        return wilson_interval(self.resolved, self.closed)

    @property
    def escalation_ci(self) -> tuple[float, float] | None:
        return wilson_interval(self.escalated, self.closed)

    @property
    def median_handle_seconds(self) -> float | None:
        return statistics.median(self.handle_seconds) if self.handle_seconds else None

    def as_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        def interval(ci: tuple[float, float] | None) -> list[float] | None:
            return None if ci is None else [round(ci[0], 4), round(ci[1], 4)]

        return {
            "conversations": self.conversations,
            "closed": self.closed,
            "resolved": self.resolved,
            "escalated": self.escalated,
            "resolution_rate": rounded(self.resolution_rate),
            "resolution_rate_ci": interval(self.resolution_ci),
            "escalation_rate": rounded(self.escalation_rate),
            "escalation_rate_ci": interval(self.escalation_ci),
            "median_handle_seconds": rounded(self.median_handle_seconds),
        }


@dataclass(frozen=True)
class Verdict:
    parity: bool
    text: str


def parity_verdict(ai: ArmStats, human: ArmStats) -> Verdict:
    """Parity only when both arms are big enough and the AI's lower bound is within the margin of humans."""
    if ai.closed < PARITY_MIN_CLOSED or human.closed < PARITY_MIN_CLOSED:
        return Verdict(
            False,
            f"Not enough evidence yet: each side needs {PARITY_MIN_CLOSED} closed conversations "
            f"(AI {ai.closed}, human {human.closed}).",
        )
    ai_ci, human_ci = ai.resolution_ci, human.resolution_ci
    assert ai_ci and human_ci and human.resolution_rate is not None
    if ai_ci[0] >= human.resolution_rate - PARITY_MARGIN:
        return Verdict(True, PARITY_TEXT)
    if ai_ci[1] < human_ci[0]:
        return Verdict(False, "AI resolves fewer conversations than humans — keep the slice as it is.")
    return Verdict(False, "Not conclusive yet: the intervals are too wide to call parity.")


def conversation_rows(*, use_case: UseCase | None = None, since: datetime | None = None) -> list[Row]:
    """Every conversation created since `since` (in `use_case`), with its arm, outcome and escalation."""
    escalations = Handoff.objects.filter(conversation=OuterRef("pk")).exclude(reason=Handoff.Reason.ROLLOUT)
    conversations = Conversation.objects.exclude(channel=Conversation.Channel.IMPORT)
    if use_case is not None:
        conversations = conversations.filter(use_case=use_case)
    if since is not None:
        conversations = conversations.filter(created_at__gte=since)
    values = conversations.annotate(escalated=Exists(escalations)).values_list(
        "id",
        "assigned_handler",
        "channel",
        "use_case__slug",
        "outcome",
        "escalated",
        "created_at",
        "closed_at",
    )
    return [Row(*v) for v in values]


def arm_stats(rows: Iterable[Row]) -> dict[str, ArmStats]:
    arms = {arm: ArmStats() for arm in ARMS}
    for row in rows:
        arms[row.arm].add(row)
    return arms


def summary(*, use_case: UseCase | None, since: datetime) -> dict[str, Any]:
    """The `GET /api/insights/summary` body: per handler (ai, human) counts, rates with 95% Wilson intervals."""
    arms = arm_stats(conversation_rows(use_case=use_case, since=since))
    verdict = parity_verdict(arms["ai"], arms["human"])
    return {
        "use_case": use_case.slug if use_case else None,
        "since": since.isoformat(),
        "confidence": 0.95,
        **{arm: stats.as_dict() for arm, stats in arms.items()},
        "verdict": {"parity": verdict.parity, "text": verdict.text},
    }


@dataclass
class UseCaseReport:
    slug: str
    name: str
    mode: str
    live_percentages: dict
    arms: dict[str, ArmStats]
    channels: list[tuple[str, dict[str, ArmStats]]]
    verdict: Verdict
    paths: dict[str, int]
    shadow: dict[str, Any] | None


def shadow_agreement(*, use_case: UseCase | None = None, since: datetime | None = None) -> dict[str, Any]:
    """How agents used shadow-mode drafts: sent as is, edited, ignored (shares of the decided ones)."""
    drafts = CopilotDraft.objects.filter(conversation__shadow=True)
    if use_case is not None:
        drafts = drafts.filter(conversation__use_case=use_case)
    if since is not None:
        drafts = drafts.filter(created_at__gte=since)
    counts = {status: 0 for status in CopilotDraft.Status.values}
    for row in drafts.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    decided = counts["sent_as_is"] + counts["edited"] + counts["ignored"]

    def share(n: int) -> float | None:
        return round(n / decided, 4) if decided else None

    return {
        "drafts": sum(counts.values()),
        **counts,
        "decided": decided,
        "sent_as_is_rate": share(counts["sent_as_is"]),
        "edited_rate": share(counts["edited"]),
        "ignored_rate": share(counts["ignored"]),
        "sent_as_is_ci": wilson_interval(counts["sent_as_is"], decided),
    }


def use_case_reports(*, since: datetime, rows: list[Row] | None = None) -> list[UseCaseReport]:
    """Per use case: both arms, per channel, the verdict, outcome paths and shadow agreement.

    `rows` are `conversation_rows(since=since)` when the caller already has them.
    """
    by_case: dict[str | None, list[Row]] = defaultdict(list)
    for row in conversation_rows(since=since) if rows is None else rows:
        by_case[row.use_case].append(row)
    has_drafts = set(
        CopilotDraft.objects.filter(conversation__shadow=True, created_at__gte=since)
        .values_list("conversation__use_case__slug", flat=True)
        .distinct()
    )
    reports = []
    for use_case in UseCase.objects.order_by("name"):
        rows = by_case.get(use_case.slug, [])
        if not rows and use_case.mode == UseCase.Mode.LIVE and use_case.slug not in has_drafts:
            continue
        channels: dict[str, list[Row]] = defaultdict(list)
        paths: dict[str, int] = defaultdict(int)
        for row in rows:
            channels[row.channel].append(row)
            paths[row.path] += 1
        arms = arm_stats(rows)
        shadow = None
        if use_case.mode == UseCase.Mode.SHADOW or use_case.slug in has_drafts:
            shadow = shadow_agreement(use_case=use_case, since=since)
        reports.append(
            UseCaseReport(
                slug=use_case.slug,
                name=use_case.name,
                mode=use_case.mode,
                live_percentages=use_case.live_percentages,
                arms=arms,
                channels=[
                    (channel, arm_stats(channel_rows)) for channel, channel_rows in sorted(channels.items())
                ],
                verdict=parity_verdict(arms["ai"], arms["human"]),
                paths=dict(paths),
                shadow=shadow,
            )
        )
    return reports


def daily_series(*, since: datetime, rows: list[Row] | None = None) -> dict[str, Any]:
    """AI vs human over time: closed conversations and resolution rate per day and arm."""
    per_day: dict[date, dict[str, ArmStats]] = defaultdict(lambda: {arm: ArmStats() for arm in ARMS})
    zone = timezone.get_current_timezone()
    for row in conversation_rows(since=since) if rows is None else rows:
        if row.closed:
            per_day[row.created_at.astimezone(zone).date()][row.arm].add(row)
    days = []
    day = timezone.localtime(since).date()
    today = timezone.localdate()
    while day <= today:
        days.append(day)
        day += timedelta(days=1)
    series: dict[str, Any] = {"days": [d.isoformat() for d in days]}
    for arm in ARMS:
        stats = [per_day[d][arm] if d in per_day else ArmStats() for d in days]
        series[arm] = {
            "closed": [s.closed for s in stats],
            "resolution_rate": [
                None if s.resolution_rate is None else round(s.resolution_rate, 4) for s in stats
            ],
        }
    return series


# The outcome of a conversation the customer walked away from.

_THANKS = re.compile(
    r"^\W*(thanks?|thank you|thx|cheers|perfect|great|awesome|got it|all good|that'?s all|that helped|"
    r"that solved it|brilliant|excellent)\b",
    re.I,
)
_BUT = re.compile(r"\b(but|not|still|however|doesn'?t|didn'?t|won'?t|can'?t)\b", re.I)


def idle_outcome(conversation_id: uuid.UUID) -> str:
    """`resolved` when the customer's last words thank or confirm an answer they got, else `abandoned`."""
    recent = list(
        Message.objects.filter(
            conversation_id=conversation_id, role__in=[Message.Role.CUSTOMER, Message.Role.AI]
        )
        .order_by("-created_at")
        .values_list("role", "text")[:3]
    )
    customer_texts = [text for role, text in recent if role == Message.Role.CUSTOMER]
    answered = any(role == Message.Role.AI for role, _ in recent[1:])
    if not customer_texts or recent[0][0] != Message.Role.CUSTOMER or not answered:
        return Conversation.Outcome.ABANDONED
    words = customer_texts[0]
    if len(words) <= 80 and _THANKS.search(words) and not _BUT.search(words):
        return Conversation.Outcome.RESOLVED
    return Conversation.Outcome.ABANDONED


# Alert metrics: (value, samples) over a window ending now.


def alert_metric(*, metric: str, use_case_id: int | None, window: timedelta) -> tuple[float | None, int]:
    """The current value of an AlertRule metric and how many conversations or turns it rests on."""
    start = timezone.now() - window
    conversations = Conversation.objects.all()
    handoffs = Handoff.objects.all()
    if use_case_id is not None:
        conversations = conversations.filter(use_case_id=use_case_id)
        handoffs = handoffs.filter(conversation__use_case_id=use_case_id)
    escalations = handoffs.exclude(reason=Handoff.Reason.ROLLOUT)
    if metric == AlertRule.Metric.ESCALATION_RATE:
        ai = conversations.filter(assigned_handler=Conversation.Handler.AI, created_at__gte=start)
        counts = ai.aggregate(
            n=Count("id"),
            escalated=Count("id", filter=Q(Exists(escalations.filter(conversation=OuterRef("pk"))))),
        )
        return _rate(counts["escalated"], counts["n"])
    if metric == AlertRule.Metric.LLM_ERROR_RATE:
        failures = escalations.filter(reason=Handoff.Reason.LLM_FAILURE, created_at__gte=start).count()
        replies = Message.objects.filter(role=Message.Role.AI, created_at__gte=start)
        if use_case_id is not None:
            replies = replies.filter(conversation__use_case_id=use_case_id)
        return _rate(failures, replies.count() + failures)
    if metric == AlertRule.Metric.ABANDONMENT_RATE:
        closed = conversations.filter(closed_at__gte=start).exclude(outcome="")
        counts = closed.aggregate(n=Count("id"), abandoned=Count("id", filter=Q(outcome="abandoned")))
        return _rate(counts["abandoned"], counts["n"])
    if metric == AlertRule.Metric.QUEUE_WAIT_SECONDS:
        queued = handoffs.filter(status=Handoff.Status.QUEUED)
        result = queued.aggregate(first=Min("created_at"), n=Count("id"))
        if not result["first"]:
            return 0.0, 0
        return (timezone.now() - result["first"]).total_seconds(), result["n"]
    if metric == AlertRule.Metric.HANDOFFS:
        n = escalations.filter(created_at__gte=start).count()
        return float(n), n
    if metric == AlertRule.Metric.WORKER_HEARTBEAT_AGE:
        # One sample when a worker should be beating; in-process work has no heartbeat to miss.
        if not worker_health.worker_expected():
            return None, 0
        try:
            return worker_health.heartbeat_age(), 1
        except Exception:  # no Redis, no heartbeat to read: as loud as a missing one
            logger.exception("alert: could not read the worker heartbeat")
            return None, 1
    raise ValueError(f"unknown alert metric {metric!r}")


def _rate(hits: int, n: int) -> tuple[float | None, int]:
    return (hits / n if n else None), n


def enabled_alert_rules(*, only_metrics: Iterable[str] | None = None) -> list[AlertRule]:
    rules = AlertRule.objects.filter(enabled=True).select_related("use_case")
    if only_metrics is not None:
        rules = rules.filter(metric__in=list(only_metrics))
    return list(rules)


# --- Knowledge gaps: the questions no article answered, grouped by meaning ---------------------------

# A question joins the group whose mean vector it is closest to when their cosine reaches this, else
# starts a group. MiniLM puts paraphrases of one store question 0.56-0.80 apart and different
# questions below 0.45; against a group's mean (paraphrases pull it to their common meaning) 0.65
# kept four wordings of "do you ship to Canada?" together and PayPal, passwords and gift cards apart,
# where 0.75 split every paraphrase pair but the closest.
GAP_GROUP_THRESHOLD = 0.65
GAP_QUESTIONS_MAX = 1000  # the latest are grouped, so the page stays quick
GAP_EXAMPLES_SHOWN = 5
GAP_TITLE_MAX_CHARS = 120


@dataclass(frozen=True)
class GapQuestion:
    signal_id: int
    text: str
    asked_at: datetime
    conversation_id: uuid.UUID


@dataclass(frozen=True)
class GapReply:
    """The first agent message after a knowledge gap in its conversation, and its draft once made."""

    signal_id: int
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    text: str
    agent: str
    sent_at: datetime
    draft_id: int | None = None
    draft_status: str = ""


@dataclass(frozen=True)
class GapGroup:
    representative: GapQuestion
    questions: list[GapQuestion]  # oldest first
    replies: list[GapReply]  # oldest first, one per agent message

    @property
    def count(self) -> int:
        return len(self.questions)

    @property
    def first_asked(self) -> datetime:
        return self.questions[0].asked_at

    @property
    def last_asked(self) -> datetime:
        return self.questions[-1].asked_at

    @property
    def title(self) -> str:
        return gap_article_title(self.representative.text)

    @property
    def examples(self) -> list[GapQuestion]:
        """Other wordings of the question, latest first, each text once."""
        seen = {self.representative.text.casefold()}
        shown = []
        for question in reversed(self.questions):
            key = question.text.casefold()
            if key not in seen:
                seen.add(key)
                shown.append(question)
        return shown[:GAP_EXAMPLES_SHOWN]


def gap_article_title(question: str) -> str:
    """A draft article's title from a customer's question: one line, cut at a word near 120 characters."""
    title = " ".join(question.split())
    if len(title) <= GAP_TITLE_MAX_CHARS:
        return title
    cut = title[: GAP_TITLE_MAX_CHARS - 1].rsplit(" ", 1)[0] or title[: GAP_TITLE_MAX_CHARS - 1]
    return cut.rstrip(" ,;:.") + "…"


def gap_draft_external_id(*, signal_id: int, message_id: uuid.UUID | str) -> str:
    """The draft article's id for one reply to one gap: the same click twice finds the same draft."""
    return f"gap-{signal_id}-{message_id}"


def _first_agent_reply() -> QuerySet:
    """The first agent message after the outer signal, in its conversation (a subquery)."""
    return (
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            role=Message.Role.AGENT,
            created_at__gt=OuterRef("created_at"),
        )
        .order_by("created_at", "id")
        .values("id")[:1]
    )


def _gaps(since: datetime | None) -> QuerySet:
    gaps = KnowledgeGap.objects.all()
    return gaps if since is None else gaps.filter(created_at__gte=since)


def knowledge_gap_count(*, since: datetime | None = None) -> int:
    return _gaps(since).count()


def group_by_meaning(vectors: np.ndarray, *, threshold: float = GAP_GROUP_THRESHOLD) -> list[list[int]]:
    """Greedy grouping of unit vectors in order: each joins the nearest group mean at `threshold` or above."""
    sums = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    groups: list[list[int]] = []
    for i, vector in enumerate(vectors):
        if groups:
            means = sums / np.linalg.norm(sums, axis=1, keepdims=True)
            scores = means @ vector
            best = int(np.argmax(scores))
            if scores[best] >= threshold:
                sums[best] += vector
                groups[best].append(i)
                continue
        sums = np.vstack([sums, vector])
        groups.append([i])
    return groups


def knowledge_gap_groups(
    *, since: datetime | None = None, threshold: float = GAP_GROUP_THRESHOLD, limit: int = GAP_QUESTIONS_MAX
) -> list[GapGroup]:
    """The latest `limit` unanswered questions since `since`, grouped by meaning, most asked first.

    Each group names its most central question, and the first reply an agent gave after each of its
    questions (the customer was handed to a person), with the draft article made from it, if any.
    """
    rows = list(
        _gaps(since)
        .order_by("-created_at", "-id")
        .annotate(reply_id=Subquery(_first_agent_reply()))
        .values("id", "conversation_id", "span", "created_at", "message__text", "reply_id")[:limit]
    )
    if not rows:
        return []
    rows.reverse()  # oldest first: groups form in the order the questions were asked
    questions = [
        GapQuestion(
            signal_id=row["id"],
            text=(row["span"] or {}).get("excerpt") or (row["message__text"] or "")[:300],
            asked_at=row["created_at"],
            conversation_id=row["conversation_id"],
        )
        for row in rows
    ]
    vectors = embeddings.local_vectors([q.text for q in questions])
    replies = _gap_replies({row["id"]: row["reply_id"] for row in rows if row["reply_id"]})
    groups = []
    for members in group_by_meaning(vectors, threshold=threshold):
        mean = vectors[members].sum(axis=0)
        central = members[int(np.argmax(vectors[members] @ mean))]
        seen: set[uuid.UUID] = set()
        group_replies = []
        for i in members:
            reply = replies.get(questions[i].signal_id)
            if reply and reply.message_id not in seen:  # two questions before one agent reply
                seen.add(reply.message_id)
                group_replies.append(reply)
        groups.append(
            GapGroup(
                representative=questions[central],
                questions=[questions[i] for i in members],
                replies=sorted(group_replies, key=lambda r: r.sent_at),
            )
        )
    groups.sort(key=lambda g: (-g.count, -g.last_asked.timestamp()))
    return groups


def _gap_replies(reply_of_signal: dict[int, uuid.UUID]) -> dict[int, GapReply]:
    messages = {
        m.id: m for m in Message.objects.filter(id__in=set(reply_of_signal.values())).select_related("sender")
    }
    external_ids = {
        signal_id: gap_draft_external_id(signal_id=signal_id, message_id=message_id)
        for signal_id, message_id in reply_of_signal.items()
    }
    drafts = {
        d["external_id"]: d
        for d in Document.objects.filter(
            source__kind=Source.Kind.DRAFTS, external_id__in=list(external_ids.values())
        ).values("id", "external_id", "status")
    }
    replies = {}
    for signal_id, message_id in reply_of_signal.items():
        message = messages.get(message_id)
        if message is None:  # deleted since the gaps were read
            continue
        draft = drafts.get(external_ids[signal_id], {})
        replies[signal_id] = GapReply(
            signal_id=signal_id,
            message_id=message.id,
            conversation_id=message.conversation_id,
            text=message.text,
            agent=_staff_name(message.sender),
            sent_at=message.created_at,
            draft_id=draft.get("id"),
            draft_status=draft.get("status", ""),
        )
    return replies


def _staff_name(user) -> str:
    if user is None:
        return "an agent no longer here"
    return user.get_full_name() or user.get_username()


def knowledge_gap_reply(*, signal_id: int, message_id: uuid.UUID) -> tuple[KnowledgeGap, Message] | None:
    """The gap and the agent reply to it, when `message_id` is the first agent message after that gap."""
    gap = KnowledgeGap.objects.filter(pk=signal_id).annotate(reply_id=Subquery(_first_agent_reply())).first()
    if gap is None or gap.reply_id != message_id:
        return None
    return gap, Message.objects.get(pk=message_id)


def knowledge_gap_question(signal_id: int) -> str | None:
    """The question of one knowledge gap, as grouped (its excerpt)."""
    gap = KnowledgeGap.objects.filter(pk=signal_id).select_related("message").first()
    if gap is None:
        return None
    return (gap.span or {}).get("excerpt") or (gap.message.text[:300] if gap.message else "")


def drafted_article(external_id: str) -> Document | None:
    return Document.objects.filter(source__kind=Source.Kind.DRAFTS, external_id=external_id).first()
