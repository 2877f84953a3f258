"""The offline engine: deterministic, no network, same interface as a remote LLM.

It reads the same messages and tool schemas. It greets, calls `transfer_to_human` when the
customer asks for a person, picks the tool whose description and examples are closest in
meaning to the customer's words (the local embedding model), fills its arguments from the
conversation by type, asks for what is missing, lets the runtime ask for a yes before a
consequential change, words the tool results, answers from the use case's instructions, and
hands off when a request is outside policy. It never pretends to be a language model.

Each call re-plans from the whole conversation plus the tool results of the current turn, so
it keeps no state of its own: any process can run any turn.
"""

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from infra import entities
from infra.embeddings import similarity

from .base import Capabilities, LLMEvent, TextDelta, ToolCall, Usage

MODEL_NAME = "baton-offline-1"
HANDOFF_TOOL = "transfer_to_human"
TOOL_THRESHOLD = 0.45
KNOWLEDGE_MARGIN = 0.1

_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = frozenset(
    "a an the and or but if of to in on at for with by from is are was were be been am i me my you your "
    "we our it its this that these those do does did can could would should will shall may might have has "
    "had not no yes so as what which who whom how when where why there here please thanks thank hi hello "
    "hey about into than then them they their just get got want need like".split()
)
_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|howdy)\b[\s!.,]*$", re.I)
_HUMAN_REQUEST = re.compile(
    r"\b(human|real person|a person|someone real|live agent|an agent|representative|operator|"
    r"talk to (someone|somebody)|speak to (someone|somebody)|customer service rep)\b",
    re.I,
)
_NEGATED_HUMAN = re.compile(
    r"\b(don'?t|do not|no need|not|never|without)\b[^.?!]{0,25}\b(human|person|agent|representative|operator)\b",
    re.I,
)
_SECTION = re.compile(r"^#+ .*$", re.M)
_VERIFIED = re.compile(r"verified as store user_id `([^`]+)`")
_NEGATIVE = re.compile(r"^\s*(no|nope|nah|don'?t|do not|stop|never ?mind|not now)\b", re.I)
_ALL_ITEMS = re.compile(r"\b(all|everything|whole order|both|entire order)\b", re.I)
_IDENTIFY_PARAMS = ({"email"}, {"first_name", "last_name", "zip"})
_ADDRESS_PARAMS = {"address1", "city", "state", "zip", "country"}

ASK_VERIFICATION = (
    "Before I look at or change anything on an account, I need to verify you: please tell me the email "
    "address on your account, or your first name, last name and zip code?"
)
FALLBACK = (
    "I'm the automated assistant running without a language model, so I can only help with what "
    "this service is set up for, and I couldn't match your request to it. You can rephrase, or "
    'say "agent" and I\'ll bring in a person.'
)


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 2}


def asks_for_human(text: str) -> bool:
    return bool(_HUMAN_REQUEST.search(text)) and not _NEGATED_HUMAN.search(text)


def _sentences(text: str) -> list[str]:
    text = _SECTION.sub("", text)
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip(" -*\t") for p in parts if len(p.strip()) > 12]


def best_matching_sentences(question: str, knowledge: str, limit: int = 2) -> list[str]:
    """The knowledge sentences sharing the most content words with the question, best first."""
    asked = content_words(question)
    if not asked:
        return []
    scored = []
    for position, sentence in enumerate(_sentences(knowledge)):
        overlap = len(asked & content_words(sentence))
        if overlap:
            scored.append((-overlap, position, sentence))
    scored.sort()
    return [s for _, _, s in scored[:limit]]


def _tool_texts(tool: dict[str, Any]) -> list[str]:
    """The description's sentences and its quoted examples: what a customer asking for it might say."""
    description = tool["function"].get("description") or ""
    head, _, examples = description.partition(" Examples: ")
    texts = [head.strip()] if head.strip() else []
    texts.extend(re.findall(r'"([^"]+)"', examples))
    return texts or [tool["function"]["name"].replace("_", " ")]


def _properties(tool: dict[str, Any]) -> dict[str, Any]:
    return (tool["function"].get("parameters") or {}).get("properties") or {}


def _required(tool: dict[str, Any]) -> list[str]:
    return list((tool["function"].get("parameters") or {}).get("required") or [])


def _is_identify(tool: dict[str, Any]) -> bool:
    return set(_properties(tool)) in _IDENTIFY_PARAMS


def cancel_reason(text: str) -> str | None:
    lowered = text.lower()
    if "mistake" in lowered or "by accident" in lowered or "accidentally" in lowered:
        return "ordered by mistake"
    if re.search(
        r"no longer need|don'?t need|do not need|not need|changed my mind|don'?t want|no longer want", lowered
    ):
        return "no longer needed"
    return None


@dataclass
class Result:
    name: str
    arguments: dict[str, Any]
    content: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.content.get("status", ""))

    @property
    def data(self) -> Any:
        return self.content.get("result")


@dataclass
class State:
    """What one call of the engine knows: the dialogue, the tools and this turn's tool results."""

    system: str
    dialogue: list[tuple[str, str]]  # (user|assistant, text) without tool traffic
    tools: dict[str, dict[str, Any]]
    results: list[Result] = field(default_factory=list)

    @classmethod
    def read(cls, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> "State":
        system = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
        dialogue = [
            (m["role"], str(m["content"]))
            for m in messages
            if m.get("role") in ("user", "assistant") and m.get("content") and not m.get("tool_calls")
        ]
        calls: dict[str, tuple[str, dict]] = {}
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        results = []
        for m in messages[last_user + 1 :]:
            for call in m.get("tool_calls") or []:
                try:
                    arguments = json.loads(call["function"]["arguments"] or "{}")
                except (ValueError, TypeError):
                    arguments = {}
                calls[call["id"]] = (call["function"]["name"], arguments)
            if m.get("role") == "tool" and m.get("tool_call_id") in calls:
                name, arguments = calls[m["tool_call_id"]]
                try:
                    content = json.loads(m.get("content") or "{}")
                except ValueError:
                    content = {"status": "failed", "error": str(m.get("content"))}
                results.append(Result(name, arguments, content if isinstance(content, dict) else {}))
        by_name = {t["function"]["name"]: t for t in tools if t.get("type") == "function"}
        return cls(system=system, dialogue=dialogue, tools=by_name, results=results)

    @property
    def customer_turns(self) -> list[str]:
        return [text for role, text in self.dialogue if role == "user"]

    @property
    def last_customer(self) -> str:
        turns = self.customer_turns
        return turns[-1] if turns else ""

    def result(self, name: str, **arguments: Any) -> Result | None:
        for r in reversed(self.results):
            if r.name == name and all(r.arguments.get(k) == v for k, v in arguments.items()):
                return r
        return None

    @property
    def verified_user(self) -> str | None:
        for r in self.results:
            if r.name in self.tools and _is_identify(self.tools[r.name]) and r.status == "succeeded":
                return (r.data or {}).get("user_id")
        match = _VERIFIED.search(self.system)
        return match.group(1) if match else None

    def last_ai_asked(self, before_turn: int) -> bool:
        """Whether the AI's message just before the customer's `before_turn`-th message asked a question."""
        seen = -1
        previous_ai = ""
        for role, text in self.dialogue:
            if role == "user":
                seen += 1
                if seen == before_turn:
                    return "?" in previous_ai
            else:
                previous_ai = text
        return False


_MEMORY_SECTION = re.compile(r"^# What we know about this customer\n(.*?)(?=\n\n|\Z)", re.M | re.S)
_ASKS_ORDER = re.compile(r"\b(my|last|latest|recent) (order|purchase)\b", re.I)
_ASKS_ADDRESS = re.compile(r"\b(address|ship(ping)? to|deliver(ed|y)? to|where do i live)\b", re.I)


def split_memory(system_text: str) -> tuple[str, dict[str, str]]:
    """The system text without the memory section, and that section's known facts by lowercase label."""
    match = _MEMORY_SECTION.search(system_text)
    if not match:
        return system_text, {}
    facts = {}
    for line in match.group(1).splitlines():
        if line.startswith("Returning customer"):
            facts["returning"] = line
        elif ": " in line and not line.startswith("- "):
            label, value = line.split(": ", 1)
            facts[label.lower()] = value
    return system_text[: match.start()] + system_text[match.end() :], facts


def from_memory(text: str, facts: dict[str, str]) -> str:
    """What memory already answers in the customer's words: their last order, their address."""
    said = []
    if _ASKS_ORDER.search(text) and facts.get("last order") and not re.search(r"#?W\d{6}", text):
        said.append(f"I can see your last order with us is {facts['last order']}.")
    if _ASKS_ADDRESS.search(text) and facts.get("address"):
        said.append(f"The address we have on file for you is {facts['address']}.")
    return " ".join(said)


class OfflineEngine:
    name = "offline"
    model = MODEL_NAME
    capabilities = Capabilities(tools=True, streaming=True, json_output=False, needs_network=False)

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[LLMEvent]:
        # Embedding is CPU work: keep it off the event loop.
        reply, call = await asyncio.to_thread(self.respond, messages, tools)
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in messages)
        if call:
            yield call
        if reply:
            for piece in re.findall(r"\S+\s*", reply):
                yield TextDelta(piece)
        yield Usage(model=MODEL_NAME, prompt_tokens=prompt_words, completion_tokens=len(reply.split()))

    def respond(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> tuple[str, ToolCall | None]:
        state = State.read(messages, tools)
        _, memory = split_memory(state.system)
        text = state.last_customer
        if state.results and state.results[-1].name == HANDOFF_TOOL:
            return "", None
        if asks_for_human(text) and HANDOFF_TOOL in state.tools:
            return "", _call(HANDOFF_TOOL, {"reason": "customer_request"})
        if not text or _GREETING.match(text):
            name = f", {memory['name'].split()[0]}" if memory.get("name") else ""
            return (
                (f"Welcome back{name}! " if memory.get("returning") else "Hello! ")
                + "I'm Baton's automated assistant. Tell me what you need and I'll help, "
                "or ask for a person at any time.",
                None,
            )
        intent = self._intent(state)
        if intent is None:
            if _NEGATIVE.match(text) and state.last_ai_asked(len(state.customer_turns) - 1):
                return "Alright, I haven't changed anything.", None
            answer = best_matching_sentences(text, _knowledge(state.system))
            known = from_memory(text, memory)
            if known or answer:
                return " ".join([known, *answer]).strip(), None
            return FALLBACK, None
        tool, window = intent
        if _NEGATIVE.match(text) and state.last_ai_asked(len(state.customer_turns) - 1):
            return "Alright, I haven't changed anything.", None
        return Planner(state, tool, window).next_step()

    def _intent(self, state: State) -> tuple[dict[str, Any], str] | None:
        """The tool the customer is asking for and the words since they asked (walking back over answers)."""
        candidates = [t for n, t in state.tools.items() if n != HANDOFF_TOOL and not _is_identify(t)]
        if not candidates:
            return None
        turns = state.customer_turns
        for index in range(len(turns) - 1, -1, -1):
            words = turns[index]
            best, best_score = None, 0.0
            for tool in candidates:
                score = max(similarity(words, _tool_texts(tool)))
                if score > best_score:
                    best, best_score = tool, score
            if best is not None and best_score >= TOOL_THRESHOLD:
                knowledge = _sentences(_knowledge(state.system))
                known = max(similarity(words, knowledge), default=0.0)
                if index == len(turns) - 1 and known > best_score + KNOWLEDGE_MARGIN:
                    return None
                return best, "\n".join(turns[index:])
            if index == 0 or not state.last_ai_asked(index):
                return None
        return None


def _knowledge(system: str) -> str:
    """The use case's own instructions: the system text before the sections the runtime adds."""
    instructions = re.split(r"^# (Verified customer|Changes already made|Customer)\b", system, flags=re.M)[0]
    return split_memory(instructions)[0]  # what memory recalls is the customer's words, not instructions


def _call(name: str, arguments: dict[str, Any]) -> ToolCall:
    digest = hashlib.sha1(json.dumps(arguments, sort_keys=True).encode()).hexdigest()[:8]
    return ToolCall(id=f"offline_{name}_{digest}", name=name, arguments=arguments)


class Planner:
    """Fills one tool's arguments step by step: verify, read what is needed, ask, call, word the result."""

    def __init__(self, state: State, tool: dict[str, Any], window: str) -> None:
        self.state = state
        self.tool = tool
        self.name = tool["function"]["name"]
        self.window = window
        self.everything = "\n".join(state.customer_turns)

    def next_step(self) -> tuple[str, ToolCall | None]:
        done = self.state.result(self.name)
        if done is not None:
            unverified = done.status == "refused" and done.content.get("code") == "verification_required"
            if not unverified:
                return self.word(done)
            if not self._verified_after(done):
                return self.verify()
        properties = _properties(self.tool)
        needs_customer = bool({"order_id", "user_id"} & set(properties)) or not properties
        user_id = self.state.verified_user
        if needs_customer and not user_id:
            return self.verify()
        arguments: dict[str, Any] = {}
        for name in properties:
            value = self.fill(name, arguments)
            if isinstance(value, tuple):  # a question to ask, or a helper tool to call first
                return value
            if value is not None:
                arguments[name] = value
        missing = [r for r in _required(self.tool) if r not in arguments]
        if missing:
            described = ", ".join(properties.get(m, {}).get("description") or m for m in missing)
            return f"To do that I still need: {described}. Could you tell me?", None
        return "", _call(self.name, arguments)

    # Verification -------------------------------------------------------------------------------
    def _verified_after(self, refused: Result) -> bool:
        """Whether an identifying look-up succeeded after the runtime refused for lack of verification."""
        later = self.state.results[self.state.results.index(refused) + 1 :]
        return any(
            r.name in self.state.tools and _is_identify(self.state.tools[r.name]) and r.status == "succeeded"
            for r in later
        )

    def verify(self) -> tuple[str, ToolCall | None]:
        identify = {frozenset(_properties(t)): n for n, t in self.state.tools.items() if _is_identify(t)}
        by_email = identify.get(frozenset({"email"}))
        by_name = identify.get(frozenset({"first_name", "last_name", "zip"}))
        tried = [r for r in self.state.results if r.name in (by_email, by_name)]
        found_emails = entities.emails(self.everything)
        if by_email and found_emails and not self.state.result(by_email, email=found_emails[-1]):
            return "", _call(by_email, {"email": found_emails[-1]})
        person = entities.name_and_zip(self.everything)
        if by_name and person:
            arguments = dict(zip(("first_name", "last_name", "zip"), person, strict=True))
            if not self.state.result(by_name, **arguments):
                return "", _call(by_name, arguments)
        if tried:
            return (
                "I couldn't find an account with those details. Could you check the email address, or give "
                "your first name, last name and zip code exactly as on the account?",
                None,
            )
        return ASK_VERIFICATION, None

    # Arguments ----------------------------------------------------------------------------------
    def order_id(self) -> str | None:
        ids = entities.order_ids(self.window) or entities.order_ids(self.everything)
        return ids[-1] if ids else None

    def helper(self, name: str, **arguments: Any) -> Result | tuple[str, ToolCall | None] | None:
        """The result of a read-only helper tool, or the call to make first (None when unavailable)."""
        if name not in self.state.tools:
            return None
        found = self.state.result(name, **arguments)
        if found is None:
            return "", _call(name, arguments)
        return found if found.status == "succeeded" else None

    def order(self) -> dict[str, Any] | tuple | None:
        order_id = self.order_id()
        if not order_id:
            return None
        found = self.helper("get_order_details", order_id=order_id)
        return found.data if isinstance(found, Result) else found

    def fill(self, name: str, arguments: dict[str, Any]) -> Any:
        if name == "order_id":
            return self.order_id() or (
                "Which order is it? Please give me the order id, like #W1234567.",
                None,
            )
        if name == "reason" and self.name.startswith("cancel"):
            return cancel_reason(self.window) or (
                "Why would you like to cancel it: is it no longer needed, or was it ordered by mistake?",
                None,
            )
        if name in _ADDRESS_PARAMS or name == "address2":
            found = entities.postal_address(self.window)
            if found is None:
                return (
                    "What is the new address? Please write it on one line: street, suite (if any), city, "
                    "state and zip code, e.g. 12 Oak Street, Suite 4, Austin, TX 78701.",
                    None,
                )
            return found[name]
        if name == "item_ids":
            return self.items()
        if name == "new_item_ids":
            return self.new_items(arguments.get("item_ids") or [])
        if name == "payment_method_id":
            return self.payment_method()
        if name == "email":
            found = entities.emails(self.window)
            return found[-1] if found else None
        if name == "product_id":
            ids = entities.item_ids(self.window)
            return ids[-1] if ids else None
        return None

    def items(self) -> list[str] | tuple:
        order = self.order()
        if isinstance(order, tuple):
            return order
        if not order:
            return "Which order is it? Please give me the order id, like #W1234567.", None
        items = order.get("items") or []
        named_ids = [i for i in entities.item_ids(self.window) if any(x["item_id"] == i for x in items)]
        if named_ids:
            return named_ids
        if len(items) == 1 or _ALL_ITEMS.search(self.window) and not self._named_items(items):
            return [i["item_id"] for i in items]
        chosen = self._named_items(items)
        if chosen:
            return chosen
        listing = "; ".join(f"{i['name']} ({_options(i['options'])})" for i in items)
        return f"Which items of order {order.get('order_id')} do you mean? It holds: {listing}.", None

    def _named_items(self, items: list[dict[str, Any]]) -> list[str]:
        chosen = []
        for item in items:
            name = item["name"].lower()
            if entities.mentions(name, self.window) or entities.mentions(name + "s", self.window):
                if item["name"] not in {c[0] for c in chosen} or _ALL_ITEMS.search(self.window):
                    chosen.append((item["name"], item["item_id"]))
        return [item_id for _, item_id in chosen]

    def new_items(self, old_ids: list[str]) -> list[str] | tuple:
        order = self.order()
        if not isinstance(order, dict):
            return order if isinstance(order, tuple) else []
        explicit = [i for i in entities.item_ids(self.window) if i not in old_ids]
        if len(explicit) == len(old_ids):
            return explicit
        remaining = list(order.get("items") or [])
        new_ids = []
        for old_id in old_ids:
            old = next(i for i in remaining if i["item_id"] == old_id)
            remaining.remove(old)
            product = self.helper("get_product_details", product_id=old["product_id"])
            if isinstance(product, tuple):
                return product
            if product is None:
                return [], None
            choice = _closest_variant(old, product.data or {}, self.window)
            if choice is None:
                available = [
                    _options(v["options"])
                    for v in (product.data or {}).get("variants", {}).values()
                    if v.get("available") and v["item_id"] != old_id
                ]
                return (
                    f"Which {old['name']} would you like instead of the one you have ({_options(old['options'])})? "
                    f"Available: {'; '.join(available[:8])}.",
                    None,
                )
            new_ids.append(choice)
        return new_ids

    def payment_method(self) -> str | tuple | None:
        text = self.window.lower()
        wanted = next((s for s in ("gift card", "paypal", "credit card") if s in text), None)
        if wanted:
            account = self.helper("get_user_details")
            if isinstance(account, tuple):
                return account
            methods = ((account.data or {}).get("payment_methods") or {}) if account else {}
            source = wanted.replace(" ", "_")
            match = next((m for m in methods.values() if m.get("source") == source), None)
            if match:
                return match["id"]
            return f"I couldn't find a {wanted} on your account. Which payment method should I use?", None
        order = self.order()
        if isinstance(order, tuple):
            return order
        history = (order or {}).get("payment_history") or []
        return history[0]["payment_method_id"] if history else None

    # Wording ------------------------------------------------------------------------------------
    def word(self, result: Result) -> tuple[str, ToolCall | None]:
        content = result.content
        if result.status == "confirmation_required":
            from conversations.actions.wording import CONFIRM_QUESTION

            return f"To confirm: {content.get('summary')}. {CONFIRM_QUESTION}", None
        if result.status == "succeeded":
            return _word_success(self.name, content), None
        if result.status == "refused":
            code = content.get("code")
            if code in ("verification_required", "not_from_customer"):
                return ASK_VERIFICATION, None
            if code == "not_your_order":
                return (
                    f"I can only help with orders on your own account, and {result.arguments.get('order_id')} "
                    "isn't one of them, so I haven't touched it.",
                    None,
                )
            return f"I couldn't do that: {content.get('error')}.", None
        if result.status == "rejected":
            return (
                f"The store can't do that: {content.get('error')}. That's outside what I may change, so I'm "
                "bringing in a colleague.",
                _call(HANDOFF_TOOL, {"reason": f"outside policy: {content.get('error')}"}),
            )
        return (
            "Sorry, that didn't work: our order system didn't respond, so nothing was changed. "
            "You can try again in a moment.",
            None,
        )


def _options(options: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in options.values())


def _closest_variant(old: dict[str, Any], product: dict[str, Any], text: str) -> str | None:
    """The available variant whose differing options the customer named, keeping the rest as they were."""
    best, best_key = None, (0, 0)
    for variant in sorted((product.get("variants") or {}).values(), key=lambda v: v["item_id"]):
        if not variant.get("available") or variant["item_id"] == old["item_id"]:
            continue
        options = variant["options"]
        named = sum(
            1 for k, v in options.items() if old["options"].get(k) != v and entities.mentions(str(v), text)
        )
        kept = sum(1 for k, v in options.items() if old["options"].get(k) == v)
        wrong = sum(
            1
            for k, v in options.items()
            if old["options"].get(k) != v and not entities.mentions(str(v), text)
        )
        key = (named - wrong * 0 if named else 0, kept)
        if named and key > best_key:
            best, best_key = variant["item_id"], key
    return best


def _word_success(name: str, content: dict[str, Any]) -> str:
    data = content.get("result") or {}
    summary = content.get("summary")
    if summary:
        status = data.get("status") if isinstance(data, dict) else None
        return f"Done: {summary}." + (f" Order {data.get('order_id')} is now {status}." if status else "")
    if isinstance(data, dict) and "order_id" in data and "status" in data:
        items = "; ".join(f"{i['name']} ({_options(i.get('options', {}))})" for i in data.get("items", []))
        tracking = [t for f in data.get("fulfillments", []) for t in f.get("tracking_id", [])]
        text = f"Order {data['order_id']} is {data['status']}. It holds: {items}."
        if tracking:
            text += f" Tracking number: {', '.join(tracking)}."
        return text
    if isinstance(data, dict) and "orders" in data and "name" in data:
        name_ = data["name"]
        a = data.get("address", {})
        return (
            f"Your account: {name_.get('first_name')} {name_.get('last_name')}, default address "
            f"{a.get('address1')}, {a.get('city')}, {a.get('state')} {a.get('zip')}; orders: "
            f"{', '.join(data.get('orders', [])) or 'none'}."
        )
    return "Done."
