"""The AI turn loop: build the context, stream the LLM's reply, run the tools it calls, store what was sent.

`ai_turn_events` is an async generator so each channel decides how tokens travel: web chat
publishes them to the conversation's group, the voice relay writes them straight to Twilio.
"""

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from conversations import selectors as conversation_selectors
from conversations import services
from conversations.actions import claims
from conversations.actions import selectors as action_selectors
from conversations.actions import services as action_services
from conversations.actions.account import account_section
from conversations.actions.executor import run_tool_call, verify_by_linked_identity
from conversations.actions.wording import CONFIRM_QUESTION
from conversations.llm import LLMError, provider_for
from conversations.llm.base import TextDelta, ToolCall, Usage
from conversations.llm.offline import HANDOFF_TOOL
from conversations.models import Message
from handoff import services as handoff_services
from handoff.models import Handoff
from handoff.wording import HOLDING_REPLY
from infra import event_types, metrics
from infra.db import beside_lane, database_sync_to_async
from infra.events import publish_in_order
from infra.groups import conversation_group, conversation_staff_group

from .citations import CitationFilter
from .context import TurnContext, turn_context

logger = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 8
ACTION_FAILED_REPLY = (
    "I'm sorry: our order system isn't responding, so I couldn't make that change and nothing was "
    "changed. I'm bringing in a colleague who can help."
)

BASE_INSTRUCTIONS = (
    "You are the customer service agent of this business, talking with a customer. Be brief, warm and "
    "concrete. Never invent facts, orders or policies; use only what the customer, the tools, the articles "
    "and these instructions give you. If the customer asks for a person, or you cannot help within policy, call "
    f"the {HANDOFF_TOOL} tool."
)

HANDOFF_TOOL_SCHEMA = {
    "type": "function",
    "function": {
        "name": HANDOFF_TOOL,
        "description": "Hand the conversation to a human agent: the customer asks for a person, or the "
        "request is outside what you may do.",
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why a person is needed."}},
            "required": ["reason"],
        },
    },
}


@dataclass(frozen=True)
class TurnToken:
    message_id: uuid.UUID
    text: str


@dataclass(frozen=True)
class TurnMessage:
    message: Message


@dataclass(frozen=True)
class TurnHandoff:
    reason: str
    handoff_id: int


TurnEvent = TurnToken | TurnMessage | TurnHandoff

_ROLE_TO_LLM = {Message.Role.CUSTOMER: "user", Message.Role.AI: "assistant", Message.Role.AGENT: "assistant"}


def build_prompt(context: TurnContext) -> list[dict[str, Any]]:
    """System instructions (base policy, use case, what we know of the customer) and recent history."""
    system = [BASE_INSTRUCTIONS]
    if context.use_case:
        system.append(f"# Use case: {context.use_case.name}\n{context.use_case.instructions}".strip())
    if context.grounding.section:
        system.append(context.grounding.section)
    if context.customer.display_name:
        system.append(f"# Customer\nName: {context.customer.display_name}")
    system.extend(context.extra_system)
    messages: list[dict[str, Any]] = [{"role": "system", "content": "\n\n".join(system)}]
    for message in context.history:
        role = _ROLE_TO_LLM.get(message.role)
        if role:
            messages.append({"role": role, "content": message.text})
    return messages


def tools_for(context: TurnContext) -> list[dict[str, Any]]:
    """The handoff tool plus the use case's actions as Chat Completions tools (reads the database)."""
    return [HANDOFF_TOOL_SCHEMA, *action_selectors.tools_for_use_case(context.use_case)]


@dataclass
class _TurnStart:
    context: TurnContext
    tools: list[dict[str, Any]]
    verification: action_selectors.Verification | None = None  # read when the use case has actions
    changes: list[str] = field(default_factory=list)


def _load_turn(conversation_id: uuid.UUID) -> _TurnStart:
    # One trip to the database thread for every read before the LLM call (each trip costs a voice
    # turn), and for settling a customer's no to a change that waits for a yes.
    context = turn_context(conversation_id)
    if not context.ai_holds_conversation:
        return _TurnStart(context, [])
    tools = tools_for(context)
    if len(tools) <= 1:
        return _TurnStart(context, tools)
    latest = next((m for m in reversed(context.history) if m.role == Message.Role.CUSTOMER), None)
    if latest is not None:
        action_services.settle_confirmations(conversation_id=conversation_id, customer_text=latest.text)
    return _TurnStart(
        context,
        tools,
        verification=action_selectors.verification(conversation_id),
        changes=action_selectors.changes_made(conversation_id),
    )


def _action_sections(context: TurnContext) -> tuple[list[str], str | None]:
    """What the LLM must know of actions, and who is verified (read again: a look-up may have verified)."""
    conversation_id = context.conversation.id
    user_id = action_selectors.verified_user_id(conversation_id)
    changes = action_selectors.changes_made(conversation_id)
    return action_selectors.prompt_lines(user_id=user_id, changes=changes), user_id


async def _actions_known(context: TurnContext, lines: list[str], user_id: str | None) -> list[str]:
    """Who is verified and what was changed, then (once verified) the account section, last.

    Last, after "# Verified customer": the offline engine reads the use case's own instructions as the
    text before that heading, so it never takes the account for something to tell the customer.
    """
    if user_id is None:
        return lines
    use_case_id = context.use_case.pk if context.use_case else None
    section = await account_section(
        conversation_id=context.conversation.id, use_case_id=use_case_id, user_id=user_id
    )
    return [*lines, section] if section else lines


def _assistant_tool_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in calls
        ],
    }


async def ai_turn_events(conversation_id: uuid.UUID) -> AsyncIterator[TurnEvent]:
    """Run one AI turn for the conversation's latest customer message, yielding what the customer receives.

    Nothing is lost on failure: the customer gets a holding reply and the conversation is handed
    to a person with reason `llm_failure` (or `action_failed` when actions keep failing).
    """
    start = await database_sync_to_async(_load_turn)(conversation_id)
    context, tools = start.context, start.tools
    if not context.ai_holds_conversation:
        return
    started = time.perf_counter()
    message_id = uuid.uuid4()
    text = ""
    first_token_ms: int | None = None
    usage: Usage | None = None
    provider_name = context.provider.name if context.provider else "offline"
    use_case_id = context.use_case.pk if context.use_case else None
    confirmation = ""
    marks = CitationFilter()  # the reply's "[1]" marks: out of the text, into the message's citations
    acted = False
    try:
        llm = provider_for(context.provider)
        recalled = list(context.extra_system)
        verified = True  # nothing to learn mid-turn without actions
        if len(tools) > 1:
            # Who is verified, read once here and passed down (prompt lines, account section).
            user_id = await verify_by_linked_identity(conversation_id, start.verification)
            verified = user_id is not None
            lines = action_selectors.prompt_lines(user_id=user_id, changes=start.changes)
            context.extra_system = [*recalled, *await _actions_known(context, lines, user_id)]
        messages = build_prompt(context)
        for _ in range(MAX_TOOL_ROUNDS):
            calls: list[ToolCall] = []
            round_text = ""
            async for event in llm.stream(messages, tools):
                if isinstance(event, TextDelta) and event.text:
                    if first_token_ms is None:
                        first_token_ms = int((time.perf_counter() - started) * 1000)
                        metrics.LLM_LATENCY.observe(first_token_ms / 1000)
                    round_text += event.text
                    shown = marks.feed(event.text)
                    if shown:
                        text += shown
                        yield TurnToken(message_id, shown)
                elif isinstance(event, ToolCall):
                    calls.append(event)
                elif isinstance(event, Usage):
                    usage = event
            handoff_call = next((c for c in calls if c.name == HANDOFF_TOOL), None)
            if handoff_call:
                for piece in await _correction(conversation_id, text):
                    text += piece
                    yield TurnToken(message_id, piece)
                if text:
                    async for event in _stored_reply(
                        context, message_id, text, started, first_token_ms, usage
                    ):
                        yield event
                reason = (
                    Handoff.Reason.CUSTOMER_REQUEST
                    if handoff_call.arguments.get("reason") in (None, "", Handoff.Reason.CUSTOMER_REQUEST)
                    else Handoff.Reason.OUT_OF_POLICY
                )
                async for event in _hand_off(
                    conversation_id, reason, str(handoff_call.arguments.get("reason", ""))
                ):
                    yield event
                metrics.TURNS.labels(outcome="handoff").inc()
                return
            if not calls:
                break
            acted = True
            messages.append(_assistant_tool_message(round_text, calls))
            escalate = False
            for call in calls:
                outcome = await run_tool_call(
                    conversation_id=conversation_id,
                    use_case_id=use_case_id,
                    name=call.name,
                    arguments=call.arguments,
                    call_id=call.id,
                )
                confirmation = outcome.confirmation or confirmation
                escalate = escalate or outcome.escalate
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "content": json.dumps(outcome.content, default=str),
                    }
                )
            if not verified:
                # Verified by this round's look-up: the next round already knows who and their account.
                lines, user_id = await database_sync_to_async(_action_sections)(context)
                verified = user_id is not None
                if verified:
                    context.extra_system = [*recalled, *await _actions_known(context, lines, user_id)]
                    messages[0] = build_prompt(context)[0]
            if escalate:
                async for event in _action_failure(context, message_id, text, started, first_token_ms, usage):
                    yield event
                metrics.TURNS.labels(outcome="action_failed").inc()
                return
    except LLMError as exc:
        logger.warning("conversation %s: LLM failure: %s", conversation_id, exc)
        metrics.LLM_ERRORS.labels(provider=provider_name).inc()
        metrics.TURNS.labels(outcome="llm_failure").inc()
        for piece in await _correction(conversation_id, text):
            text += piece
            yield TurnToken(message_id, piece)
        if text:
            async for event in _stored_reply(context, message_id, text, started, first_token_ms, usage):
                yield event
        async for event in _llm_failure(conversation_id, str(exc)):
            yield event
        return
    rest = marks.flush()
    if rest:
        text += rest
        yield TurnToken(message_id, rest)
    for piece in await _correction(conversation_id, text):
        text += piece
        yield TurnToken(message_id, piece)
    if confirmation and confirmation.lower() not in text.lower():
        # The customer must see the exact change they are saying yes to, whatever the LLM wrote.
        for piece in _said_after(text, f"To confirm: {confirmation}. {CONFIRM_QUESTION}"):
            text += piece
            yield TurnToken(message_id, piece)
    citations = context.grounding.citations(marks.numbers)
    async for event in _stored_reply(
        context,
        message_id,
        text,
        started,
        first_token_ms,
        usage,
        citations=citations,
        knowledge_gap=not citations and not acted and context.grounding.unanswered,
    ):
        yield event
    metrics.TURNS.labels(outcome="replied").inc()


def _record_knowledge_gap(context: TurnContext) -> None:
    """A customer question no article answered: a signal the rules and the knowledge gaps page use."""
    latest = next((m for m in reversed(context.history) if m.role == Message.Role.CUSTOMER), None)
    if latest is None:
        return
    try:
        handoff_services.record_knowledge_gap(message_id=latest.id, best_score=context.grounding.best_score)
    except Exception:  # a failed signal must never cost the customer their reply
        logger.exception("could not record the knowledge gap of message %s", latest.id)


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def _said_after(text: str, sentence: str) -> list[str]:
    """`sentence` as further tokens of a reply that holds `text` so far."""
    pieces = _words(sentence)
    if text and not text[-1].isspace():
        pieces[0] = " " + pieces[0]
    return pieces


async def _correction(conversation_id: uuid.UUID, text: str) -> list[str]:
    """Tokens that set right a claim of the reply the audit log does not back (none when all is backed).

    Checked when the turn's text is complete, not held back as it streams: the claim may come before
    the tool call it is about (a response's text streams ahead of its tool calls), a hold would delay
    every confirmation question too, and words already spoken on a call cannot be taken back anyway.
    So the claim stands in the reply, followed by its correction, and the stored message is both.
    """
    if not claims.claims_in(text):
        return []  # the usual reply: no database read at the end of the turn
    records = await database_sync_to_async(action_selectors.actions_taken)(conversation_id)
    unbacked = claims.unbacked_claim(text, records)
    if unbacked is None:
        return []
    logger.warning(
        "conversation %s: AI claimed %r without a backing action; corrected",
        conversation_id,
        unbacked.claim.words,
    )
    return _said_after(text, claims.correction(unbacked))


async def _action_failure(
    context: TurnContext,
    message_id: uuid.UUID,
    text: str,
    started: float,
    first_token_ms: int | None,
    usage: Usage | None,
) -> AsyncIterator[TurnEvent]:
    """Actions keep failing: say so honestly, then hand the conversation to a person."""
    honest = (text.strip() + " " if text.strip() else "") + ACTION_FAILED_REPLY
    yield TurnToken(message_id, honest[len(text) :] if honest.startswith(text) else honest)
    async for event in _stored_reply(context, message_id, honest, started, first_token_ms, usage):
        yield event
    async for event in _hand_off(
        context.conversation.id, Handoff.Reason.ACTION_FAILED, "an action failed repeatedly"
    ):
        yield event


async def _stored_reply(
    context: TurnContext,
    message_id: uuid.UUID,
    text: str,
    started: float,
    first_token_ms: int | None,
    usage: Usage | None,
    *,
    citations: list[dict] | None = None,
    knowledge_gap: bool = False,
) -> AsyncIterator[TurnEvent]:
    """Store the reply as sent and yield it; then the policy operators on it (and the knowledge gap).

    The reply reaches the customer as its transaction commits (web chat, SMS) or as it is yielded
    (voice), before the operators run, so they cost the customer no wait. They run beside the
    connection's database lane: a caller who speaks again at once is not kept waiting behind them.
    """
    message = await database_sync_to_async(services.record_reply)(
        conversation_id=context.conversation.id,
        channel=context.conversation.channel,
        role=Message.Role.AI,
        text=text.strip() or "…",
        citations=citations or [],
        message_id=message_id,
        model=usage.model if usage else "",
        latency_ms=int((time.perf_counter() - started) * 1000),
        first_token_ms=first_token_ms,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
    )
    yield TurnMessage(message)
    await beside_lane(_observe_reply)(context, message, knowledge_gap=knowledge_gap)


def _observe_reply(context: TurnContext, message: Message, *, knowledge_gap: bool) -> None:
    # Policy operators check what the customer actually received; a broken one never breaks the turn.
    # They read the conversation and history the turn read, not the database again.
    try:
        handoff_services.observe_ai_message(
            message=message,
            conversation=context.conversation,
            earlier=context.history,
            earlier_complete=len(context.history) < conversation_selectors.HISTORY_LIMIT,
        )
    except Exception:
        logger.exception("policy operators failed on message %s", message.id)
    if knowledge_gap:
        _record_knowledge_gap(context)


async def _hand_off(conversation_id: uuid.UUID, reason: str, detail: str) -> AsyncIterator[TurnEvent]:
    handoff = await database_sync_to_async(handoff_services.start_handoff)(
        conversation_id=conversation_id, reason=reason, detail=detail
    )
    yield TurnHandoff(reason=reason, handoff_id=handoff.pk)


async def _llm_failure(conversation_id: uuid.UUID, detail: str) -> AsyncIterator[TurnEvent]:
    holding = await database_sync_to_async(services.record_reply)(
        conversation_id=conversation_id, role=Message.Role.SYSTEM, text=HOLDING_REPLY
    )
    yield TurnMessage(holding)
    async for event in _hand_off(conversation_id, Handoff.Reason.LLM_FAILURE, detail[:500]):
        yield event


async def run_ai_turn_and_publish(conversation_id: uuid.UUID) -> None:
    """Run a turn for a channel that listens on the conversation's group (web chat, desk, board)."""
    groups = [conversation_group(conversation_id), conversation_staff_group(conversation_id)]
    try:
        async for event in ai_turn_events(conversation_id):
            if isinstance(event, TurnToken):
                # Queued, not awaited: tokens ready together go out as one frame, and still before the
                # stored message, which the services that store it publish through the same queue.
                publish_in_order(
                    groups, event_types.TOKEN, {"message_id": str(event.message_id), "text": event.text}
                )
    except Exception:
        logger.exception("AI turn crashed for conversation %s", conversation_id)
        raise
