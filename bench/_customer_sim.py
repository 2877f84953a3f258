"""A rule-based simulated customer for the τ-bench retail tasks (used by `bench/resolution.py`).

The customer knows what its task's instruction gives it (name, zip or email, the order ids it names) and
what any customer knows about their own account (what they ordered, which cards they hold). Its goals
are the task's gold write actions, described in a customer's words: product names and options, "my
credit card ending in 1234", the street address. It answers what the assistant asks, says yes only to
a confirmation that states the change it wants, and moves on to its next goal once a change is made.

It is deliberately not written against any engine's wording: it recognises questions by their topic
(identity, order, items, options, payment, reason, address, a yes/no confirmation) and otherwise
restates what it wants in full.
"""

import random
import re
from dataclasses import dataclass, field
from typing import Any

WRITE_ACTIONS = (
    "cancel_pending_order",
    "modify_pending_order_address",
    "modify_pending_order_payment",
    "modify_pending_order_items",
    "return_delivered_order_items",
    "exchange_delivered_order_items",
    "modify_user_address",
)
ACCOUNT = "account"  # the target of a change to the account itself (its default address)
MAX_TURNS = 15  # a customer's patience for one request; each further request adds TURNS_PER_REQUEST
TURNS_PER_REQUEST = 4  # say it, answer a question, say yes, and one spare

_ORDER_ID = re.compile(r"#?\b(W\d{7})\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(#'\"])")
_TEMPLATE = re.compile(r"\{'|\bvia \w+_\d+|^Cancel order #W|^Return #W|^For #W\d+, (change|modify|exchange)")
_DIRECTIVE = re.compile(
    r"^(try|be|if|but|emphasize|express|in the end|first|eventually|initially|make sure|insist|ask|"
    r"return|cancel|exchange|modify|change|tell|complain|you don'?t remember|you'?re very)\b",
    re.I,
)
_CONTENT_DIRECTIVE = re.compile(
    r"^(tell (?:the )?(?:customer service )?agent that|complain that|mention that)\s+", re.I
)
_BEHAVIOUR = re.compile(r"\b(decide|initially|eventually|unsure|indecisive|confirm|agent|mind)\b", re.I)


def normalize_order_id(text: str) -> str:
    return "#" + text.lstrip("#").upper()


def first_person(text: str) -> str:
    """The brief's second person ("You've received ...") as the customer's own words."""
    rules = [
        (r"\byou'?ve\b", "I've"),
        (r"\byou'?re\b", "I'm"),
        (r"\byou'?d\b", "I'd"),
        (r"\byou'?ll\b", "I'll"),
        (r"\byou are\b", "I am"),
        (r"\byou were\b", "I was"),
        (r"\byourself\b", "myself"),
        (r"\byours\b", "mine"),
        (r"\byour\b", "my"),
        (r"\b(to|for|with|at|from|by|give|send|help|tell) you\b", r"\1 me"),
        (r"\byou\b", "I"),
    ]
    for pattern, replacement in rules:
        text = re.sub(pattern, lambda m, r=replacement: _keep_case(m.group(0), m.expand(r)), text, flags=re.I)
    return text


def _keep_case(original: str, replacement: str) -> str:
    if original[:1].isupper() and replacement[:1].islower():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _options_phrase(options: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items())


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _mentions(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` as whole words (case-insensitive; a plural 's' is allowed)."""
    return bool(re.search(rf"(?<![\w-]){re.escape(phrase.lower())}s?(?![\w-])", text.lower()))


@dataclass
class Persona:
    """Who the customer is and what the instruction lets it know."""

    first_name: str
    last_name: str
    zip: str | None
    emails: list[str]
    order_ids: set[str]
    order_suffix: str | None
    traits: set[str]
    narrative: list[str]
    confirm_text: str  # sentences about what to do at the confirmation
    other_text: str

    @classmethod
    def parse(cls, instruction: str, user: dict[str, Any]) -> "Persona":
        name = re.search(r"Your name is (\S+) (.+?) and", instruction)
        first, last = name.groups() if name else (user["name"]["first_name"], user["name"]["last_name"])
        zip_code = re.search(r"zip code is (\d{5})", instruction)
        traits = re.search(r"You are ((?:\w+, )*\w+)\.", instruction)
        suffix = re.search(r"order (?:number|id) ends? (?:in|with) (\d+)", instruction, re.I)
        sentences = [s.strip() for s in _SENTENCE.split(instruction) if s.strip()]
        narrative: list[str] = []
        confirm_text, other_text = "", ""
        for sentence in sentences:
            if sentence.startswith("Your name is") or re.match(r"You are (?:\w+, )*\w+\.$", sentence):
                continue
            if re.search(r"\bconfirm", sentence, re.I):
                confirm_text += " " + sentence
                continue
            other_text += " " + sentence
            content = _CONTENT_DIRECTIVE.sub("", sentence)
            if _TEMPLATE.search(content) or _BEHAVIOUR.search(content):
                continue
            if content == sentence and _DIRECTIVE.match(sentence):
                continue
            narrative.append(first_person(content[:1].upper() + content[1:]))
        return cls(
            first_name=first,
            last_name=last,
            zip=zip_code.group(1) if zip_code else None,
            emails=[e.rstrip(".") for e in _EMAIL.findall(instruction)],
            order_ids={normalize_order_id(m) for m in _ORDER_ID.findall(instruction)},
            order_suffix=suffix.group(1) if suffix else None,
            traits={t.strip() for t in traits.group(1).split(",")} if traits else set(),
            narrative=narrative[:2],
            confirm_text=confirm_text,
            other_text=other_text,
        )


@dataclass
class Goal:
    """One change the customer wants: a gold write action in the customer's terms."""

    action: str
    kwargs: dict[str, Any]
    order: dict[str, Any] | None
    items: list[dict[str, Any]] = field(default_factory=list)
    new_variants: list[dict[str, Any]] = field(default_factory=list)
    payment: dict[str, Any] | None = None
    held_back: list[dict[str, Any]] = field(default_factory=list)

    @property
    def order_id(self) -> str | None:
        return self.kwargs.get("order_id")

    @property
    def target(self) -> str:
        return self.order_id or ACCOUNT

    @property
    def address(self) -> dict[str, str] | None:
        if "address1" not in self.kwargs:
            return None
        return {
            k: self.kwargs.get(k, "") for k in ("address1", "address2", "city", "state", "zip", "country")
        }


def normalize_actions(actions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The write actions, without item swaps to the very same item (a no-op this store refuses).

    Upstream synthetic tasks sometimes "modify X to {}": the item stays as it is. The store answers such a
    swap with an error, so it is dropped from the action (and the action, if nothing else is swapped).
    Returns the actions and how many swaps were dropped.
    """
    kept, dropped = [], 0
    for action in actions:
        if action["name"] not in WRITE_ACTIONS:
            continue
        kwargs = dict(action["kwargs"])
        if "new_item_ids" in kwargs:
            pairs = [
                (o, n) for o, n in zip(kwargs["item_ids"], kwargs["new_item_ids"], strict=True) if o != n
            ]
            dropped += len(kwargs["item_ids"]) - len(pairs)
            if not pairs:
                continue
            kwargs["item_ids"], kwargs["new_item_ids"] = [o for o, _ in pairs], [n for _, n in pairs]
        kept.append({"name": action["name"], "kwargs": kwargs})
    return kept, dropped


def build_goals(
    actions: list[dict[str, Any]], user: dict[str, Any], orders: dict[str, Any], products: dict[str, Any]
) -> list[Goal]:
    goals = []
    for action in actions:
        if action["name"] not in WRITE_ACTIONS:
            continue
        kwargs = action["kwargs"]
        order = orders.get(kwargs.get("order_id", ""))
        goal = Goal(action=action["name"], kwargs=kwargs, order=order)
        remaining = list(order["items"]) if order else []
        for item_id in kwargs.get("item_ids", []):
            item = next((i for i in remaining if i["item_id"] == item_id), None)
            if item is not None:
                remaining.remove(item)
                goal.items.append(item)
        for old, new_id in zip(goal.items, kwargs.get("new_item_ids", []), strict=False):
            variant = products.get(old["product_id"], {}).get("variants", {}).get(new_id)
            goal.new_variants.append(variant or {"item_id": new_id, "options": {}})
        if kwargs.get("payment_method_id"):
            goal.payment = user.get("payment_methods", {}).get(kwargs["payment_method_id"])
        goals.append(goal)
    return goals


_YES_LINES = ["Yes, please go ahead.", "Yes, that's right.", "Yes, please do that.", "Yes.", "Yes, go ahead."]
_NO_LINES = ["No, that's not what I want.", "No, that's not right.", "No, please don't do that."]
_THANKS_NEXT = ["Thanks! There's one more thing.", "Great, thank you. I also need something else.", "Thanks."]
_CLOSING = [
    "Thanks, that's all I needed.",
    "Great, that's everything. Thank you!",
    "Perfect, thanks. That's all.",
]

_ASKS_CONFIRM = re.compile(
    r"\b(yes or no|shall i|should i|can i go ahead|may i|would you like me to|do you want me to|"
    r"(please )?confirm|is (that|this) (correct|right|ok)|proceed|go ahead)\b",
    re.I,
)
_ASKS_IDENTITY = re.compile(r"\b(e-?mail|zip|postal code|verify|verification|identify|your name)\b", re.I)
_IDENTITY_FAILED = re.compile(
    r"\b(couldn'?t|could not|can'?t|cannot|unable to|didn'?t|did not) (find|locate|match|verify)\b|"
    r"\bno (account|user|customer)\b|\bnot (found|match)",
    re.I,
)
_ASKS_ORDER = re.compile(r"\b(which|what) order\b|\border (id|number)\b|\bwhich one\b", re.I)
_ASKS_ITEMS = re.compile(r"\b(which|what) (items?|products?|ones?)\b|\bwhich of\b", re.I)
_ASKS_VARIANT = re.compile(
    r"\binstead\b|\bavailable\b|\bwhich (colou?r|size|option|variant|version|model)s?\b|\bwhat (colou?r|size|options?)\b|"
    r"\bwould you like (it|them) (in|to be)\b",
    re.I,
)
_ASKS_PAYMENT = re.compile(
    r"\bpayment( method)?\b|\brefund (it |this )?(to|on)\b|\bpay (for|with)\b|\bwhich (card|account)\b|"
    r"\bcharge\b|\bprice difference\b",
    re.I,
)
_ASKS_REASON = re.compile(r"\b(why|reason)\b", re.I)
_ASKS_ADDRESS = re.compile(r"\baddress\b", re.I)
_REFUSED = re.compile(
    r"\b(can'?t|cannot|unable to|not able to|isn'?t possible|not possible|not allowed|not eligible|"
    r"not enough|insufficient)\b",
    re.I,
)
_SUCCESS = re.compile(
    r"\b(done|has been|have been|is now|was successfully|successfully|i'?ve (cancelled|canceled|changed|updated|"
    r"submitted|requested|processed|placed))\b",
    re.I,
)

_CHANGE_WORDS = re.compile(
    r"\b(cancel|return|refund|exchange|swap|replace|change|modify|update|switch|address|ship|pay|payment)",
    re.I,
)
_KIND_WORDS = {
    "cancel_pending_order": r"\bcancel",
    "return_delivered_order_items": r"\b(return|refund|send (it |them )?back)",
    "exchange_delivered_order_items": r"\b(exchange|swap|replace)",
    "modify_pending_order_items": r"\b(change|modify|swap|replace|exchange|update|switch)",
    "modify_pending_order_address": r"\b(address|ship)",
    "modify_pending_order_payment": r"\b(pay|payment|charge|billing)",
    "modify_user_address": r"\baddress",
}


@dataclass
class Said:
    """One customer message and what it meant for the policy checks."""

    text: str
    yes_to: str | None = None  # the target (order id or "account") of the change it said yes to
    closing: bool = False


class Customer:
    """Drives one task's conversation from the customer's side."""

    def __init__(
        self,
        task: dict[str, Any],
        users: dict[str, Any],
        orders: dict[str, Any],
        products: dict[str, Any],
        rng: random.Random,
    ) -> None:
        self.user = users[task["user_id"]]
        self.orders = {oid: orders[oid] for oid in self.user.get("orders", []) if oid in orders}
        self.instruction = task["instruction"]
        self.persona = Persona.parse(task["instruction"], self.user)
        self.goals = build_goals(normalize_actions(task["actions"])[0], self.user, orders, products)
        self.rng = rng
        self.index = 0
        self.emails_tried = 0
        self.refusals = 0  # times the assistant said the current goal can't be done
        self.said_yes = False
        self.revealed: set[int] = set()  # goals whose held-back items were already mentioned
        for position, goal in enumerate(self.goals):
            held = [
                i
                for i in goal.items
                if _mentions(self.persona.confirm_text, i["name"])
                and not _mentions(self.persona.other_text, i["name"])
            ]
            if held and len(held) < len(goal.items):
                goal.held_back = held
            else:
                self.revealed.add(position)

    @property
    def patience(self) -> int:
        """Customer turns before it gives up: more for a task of several requests."""
        return MAX_TURNS + TURNS_PER_REQUEST * max(0, len(self.goals) - 1)

    # What it knows ----------------------------------------------------------------------------
    @property
    def goal(self) -> Goal | None:
        return self.goals[self.index] if self.index < len(self.goals) else None

    def knows_order(self, order_id: str | None) -> bool:
        return bool(order_id) and order_id in self.persona.order_ids

    def stated_items(self, goal: Goal) -> list[dict[str, Any]]:
        if self.index in self.revealed or goal is not self.goal:
            return goal.items
        return [i for i in goal.items if i not in goal.held_back]

    def item_phrase(self, item: dict[str, Any], order: dict[str, Any] | None, detailed: bool = False) -> str:
        same_name = [i for i in (order or {}).get("items", []) if i["name"] == item["name"]]
        if detailed or len(same_name) > 1:
            return f"the {item['name'].lower()} ({_options_phrase(item['options'])})"
        return f"the {item['name'].lower()}"

    def items_phrase(self, goal: Goal, detailed: bool = False) -> str:
        return _join([self.item_phrase(i, goal.order, detailed) for i in self.stated_items(goal)])

    def order_contents(self, order: dict[str, Any] | None) -> str:
        return _join([self.item_phrase(i, order) for i in (order or {}).get("items", [])])

    def changes_phrase(self, goal: Goal, detailed: bool = False) -> str:
        """Each item to swap and what it should become: "the mouse for one with color white"."""
        parts = []
        for old, new in zip(goal.items, goal.new_variants, strict=False):
            if old not in self.stated_items(goal):
                continue
            changed = {k: v for k, v in new.get("options", {}).items() if old["options"].get(k) != v}
            parts.append(
                f"{self.item_phrase(old, goal.order, detailed)} for one with {_options_phrase(changed)}"
            )
        return _join(parts)

    def payment_phrase(self, goal: Goal, asked_for_id: bool = False) -> str:
        method = goal.payment
        if method is None:
            return "the original payment method"
        original = ((goal.order or {}).get("payment_history") or [{}])[0].get("payment_method_id")
        known_id = method["id"] in self.instruction
        if method["id"] == original and not asked_for_id and self.rng.random() < 0.3:
            return "the original payment method"
        if method["source"] == "credit_card":
            brand = f"{method['brand'].title()} " if method.get("brand") else ""
            phrase = f"my {brand}credit card ending in {method.get('last_four')}"
        elif method["source"] == "paypal":
            phrase = "my PayPal account"
        else:
            phrase = "my gift card"
        if known_id and (asked_for_id or self.rng.random() < 0.25):
            phrase += f" ({method['id']})"
        return phrase

    def address_phrase(self, goal: Goal) -> str:
        a = goal.address or {}
        street = ", ".join(x for x in (a.get("address1"), a.get("address2")) if x)
        return f"{street}, {a.get('city')}, {a.get('state')} {a.get('zip')}, {a.get('country')}"

    def reason_phrase(self, goal: Goal) -> str:
        if goal.kwargs.get("reason") == "ordered by mistake":
            return self.rng.choice(
                ["I ordered it by mistake", "I placed it by mistake", "it was ordered by mistake"]
            )
        return self.rng.choice(["I no longer need it", "I don't need it anymore", "it's no longer needed"])

    def order_ref(self, goal: Goal, always: bool = False) -> str:
        told = any(goal.order_id and goal.order_id[1:] in line for line in self.persona.narrative)
        if self.knows_order(goal.order_id) and (always or told or self.rng.random() < 0.6):
            return f" {goal.order_id}"
        return ""

    # What it says -----------------------------------------------------------------------------
    def request(self, goal: Goal, full: bool = False) -> str:
        """What it wants, as one or two sentences; `full` adds every detail it knows."""
        ref = self.order_ref(goal, always=full)
        order_word = f"order{ref}" if ref else "my order"
        action = goal.action
        if action == "cancel_pending_order":
            text = self.rng.choice(
                [
                    f"I'd like to cancel {order_word}",
                    f"I need to cancel {order_word}",
                    f"Please cancel {order_word}",
                ]
            )
            if not ref:
                text += f", the one with {self.order_contents(goal.order)}"
            if full or self.rng.random() < 0.5:
                text += f", because {self.reason_phrase(goal)}"
            return text + "."
        if action == "return_delivered_order_items":
            text = self.rng.choice(
                [
                    f"I want to return {self.items_phrase(goal, full)} from {order_word}",
                    f"I'd like to send back {self.items_phrase(goal, full)} I got in {order_word}",
                ]
            )
            if full or self.rng.random() < 0.5:
                text += f", with the refund to {self.payment_phrase(goal)}"
            return text + "."
        if action in ("exchange_delivered_order_items", "modify_pending_order_items"):
            if action.startswith("exchange"):
                text = f"I'd like to exchange {self.changes_phrase(goal, full)}, from {order_word}"
            else:
                text = (
                    f"{order_word[0].upper()}{order_word[1:]} hasn't shipped yet and I'd like to change "
                    f"{self.changes_phrase(goal, full)}"
                )
            if full or self.rng.random() < 0.4:
                text += f". Any price difference can go on {self.payment_phrase(goal)}"
            return text + "."
        if action == "modify_pending_order_address":
            return f"I need to change the shipping address of {order_word} to {self.address_phrase(goal)}."
        if action == "modify_pending_order_payment":
            return f"I'd like to pay for {order_word} with {self.payment_phrase(goal)} instead."
        if action == "modify_user_address":
            return (
                f"I moved, so please update the default address on my account to {self.address_phrase(goal)}."
            )
        return "I need help with my order."

    def identity(self, asked: str = "", opening: bool = False) -> str:
        p = self.persona
        wants_email = bool(re.search(r"e-?mail", asked, re.I)) and not re.search(r"\bzip\b", asked, re.I)
        if p.emails and self.emails_tried < len(p.emails) and (wants_email or not p.zip):
            email = p.emails[self.emails_tried]
            self.emails_tried += 1
            if self.emails_tried > 1:
                return f"Maybe it's {email} then."
            if opening:
                return f"My email is {email}."
            return self.rng.choice([f"My email is {email}.", f"It's {email}.", f"Sure, my email is {email}."])
        if p.zip:
            lead = "I don't remember which email I used, but my" if wants_email else "My"
            return f"{lead} name is {p.first_name} {p.last_name} and my zip code is {p.zip}."
        return f"My name is {p.first_name} {p.last_name}. I'm afraid I don't know what else to give you."

    def order_answer(self, goal: Goal) -> str:
        if self.knows_order(goal.order_id):
            return self.rng.choice([f"It's order {goal.order_id}.", f"The order number is {goal.order_id}."])
        contents = self.order_contents(goal.order)
        if self.persona.order_suffix:
            return f"I don't have the full order number, but it ends in {self.persona.order_suffix}. It's the one with {contents}."
        return f"I don't know the order number, sorry. It's the order with {contents}."

    def opening(self) -> Said:
        goal = self.goal
        parts = [self.rng.choice(["Hi!", "Hello.", "Hi there."])]
        if self.persona.narrative:
            parts.append(" ".join(self.persona.narrative))
        if self.rng.random() < 0.3:
            parts.append(self.identity(opening=True))
        if goal is None:
            if not self.persona.narrative:
                parts.append("I have a question about my order.")
        else:
            parts.append(self.request(goal))
        if goal is not None and "impatient" in self.persona.traits:
            parts.append("I'm in a bit of a hurry.")
        return Said(" ".join(parts))

    def reply(self, ai_text: str, wrote: set[str]) -> Said:
        """The customer's next message after the assistant said `ai_text` and the store saw writes to `wrote`."""
        goal = self.goal
        if goal is None:
            if self.goals:
                return Said(self.rng.choice(_CLOSING), closing=True)
            return Said(
                "Actually, never mind, I'll just keep everything as it is. " + self.rng.choice(_CLOSING),
                closing=True,
            )
        text = ai_text or ""
        asks = "?" in text or re.search(
            r"\b(please (tell|give|provide|let me know)|i (still )?need)\b", text, re.I
        )
        succeeded = goal.target in wrote or (
            not asks
            and _SUCCESS.search(text)
            and (goal.order_id or "") in text
            and re.search(_KIND_WORDS[goal.action], text, re.I)
        )
        said_yes, self.said_yes = self.said_yes, False
        if succeeded:
            return self.next_goal()
        confirm_question = bool(asks and _ASKS_CONFIRM.search(text))
        if confirm_question and self.is_change_confirmation(text):
            return self.confirm(goal, text)
        if _REFUSED.search(text) and not _IDENTITY_FAILED.search(text):
            self.refusals += 1
            if said_yes or self.refusals >= 2:  # it can't be done: let it go
                return self.next_goal(lead="Oh, okay. Never mind that one then.")
        answers = self.answers(goal, text) if asks or _IDENTITY_FAILED.search(text) else []
        if answers:
            return Said(" ".join(answers))
        if confirm_question:  # an offer to look something up, not a change
            return Said(self.rng.choice(["Yes, please.", "Sure, please do."]))
        return Said(self.request(goal, full=True))

    def answers(self, goal: Goal, text: str) -> list[str]:
        """Answers to each thing the assistant asked, in the customer's words."""
        answers = []
        if _ASKS_IDENTITY.search(text) and not re.search(r"\bnew address\b", text, re.I):
            answers.append(self.identity(text))
        if _ASKS_ORDER.search(text) and goal.order_id and goal.order_id not in text:
            answers.append(self.order_answer(goal))
        if _ASKS_ITEMS.search(text) and goal.items:
            answers.append(f"I mean {self.items_phrase(goal, detailed=True)}.")
        if _ASKS_VARIANT.search(text) and goal.new_variants:
            answers.append(f"I'd like to swap {self.changes_phrase(goal)}.")
        if _ASKS_PAYMENT.search(text) and goal.payment:
            asked_id = bool(re.search(r"\b(method )?id\b", text, re.I))
            answers.append(f"Please use {self.payment_phrase(goal, asked_for_id=asked_id)}.")
        if _ASKS_REASON.search(text) and goal.action == "cancel_pending_order":
            reason = self.reason_phrase(goal)
            answers.append(reason[0].upper() + reason[1:] + ".")
        if _ASKS_ADDRESS.search(text) and goal.address:
            answers.append(f"The new address is {self.address_phrase(goal)}.")
        return answers

    def next_goal(self, lead: str = "") -> Said:
        self.index += 1
        self.refusals = 0
        goal = self.goal
        if goal is None:
            return Said(f"{lead} {self.rng.choice(_CLOSING)}".strip(), closing=True)
        return Said(f"{lead or self.rng.choice(_THANKS_NEXT)} {self.request(goal)}")

    def is_change_confirmation(self, text: str) -> bool:
        """A yes/no question about changing something (not "can you confirm your email?")."""
        if not _CHANGE_WORDS.search(text):
            return False
        names = {i["name"] for o in self.orders.values() for i in o["items"]}
        if _ORDER_ID.search(text) or any(_mentions(text, n) for n in names):
            return True
        return bool(_ASKS_ADDRESS.search(text) and re.search(r"\b\d{5}\b", text))  # the account's address

    def confirm(self, goal: Goal, text: str) -> Said:
        if self.index not in self.revealed:
            self.revealed.add(self.index)
            held = _join([self.item_phrase(i, goal.order) for i in goal.held_back])
            return Said(f"Wait, before you do that: I also want to return {held} from the same order.")
        if confirmation_matches(goal, text, self.user):
            self.said_yes = True
            return Said(self.rng.choice(_YES_LINES), yes_to=goal.target)
        return Said(f"{self.rng.choice(_NO_LINES)} {self.request(goal, full=True)}")


# Judging a confirmation ---------------------------------------------------------------------------
def confirmation_matches(goal: Goal, text: str, user: dict[str, Any]) -> bool:
    """Whether a yes/no question states exactly the change of `goal` (order, action, items, options, payment)."""
    if not re.search(_KIND_WORDS[goal.action], text, re.I):
        return False
    named_orders = {normalize_order_id(m) for m in _ORDER_ID.findall(text)}
    if goal.order_id:
        if named_orders != {goal.order_id}:
            return False
    elif named_orders:
        return False
    order_items = (goal.order or {}).get("items", [])
    goal_ids = {i["item_id"] for i in goal.items}
    goal_names = {i["name"].lower() for i in goal.items}
    for item in goal.items:
        if item["item_id"] not in text and not _mentions(text, item["name"]):
            return False
    for item in order_items:
        if item["item_id"] in goal_ids:
            continue
        if item["item_id"] in text or (
            item["name"].lower() not in goal_names and _mentions(text, item["name"])
        ):
            return False
    for old, new in zip(goal.items, goal.new_variants, strict=False):
        changed = [str(v) for k, v in new.get("options", {}).items() if old["options"].get(k) != v]
        if new["item_id"] not in text and not all(_mentions(text, v) for v in changed):
            return False
    if goal.payment and not _payment_matches(goal, text, user):
        return False
    reason = goal.kwargs.get("reason")
    if reason == "no longer needed" and re.search(r"\bmistake\b", text, re.I):
        return False
    if reason == "ordered by mistake" and re.search(r"\bno longer need", text, re.I):
        return False
    address = goal.address
    if address:
        if not (_mentions(text, address["address1"]) and address["zip"] in text):
            return False
        # Every number it states must be the order's, or part of the new address (no garbled street).
        allowed = set(re.findall(r"\d+", " ".join(address.values())))
        stated = set(re.findall(r"(?<![\w#])\d+(?!\w)", _ORDER_ID.sub(" ", text)))
        if stated - allowed:
            return False
    return True


def _payment_matches(goal: Goal, text: str, user: dict[str, Any]) -> bool:
    method = goal.payment or {}
    methods = user.get("payment_methods", {})
    named = {m for m in methods if m in text}
    if named:
        return named == {method["id"]}
    original = ((goal.order or {}).get("payment_history") or [{}])[0].get("payment_method_id")
    if re.search(r"\boriginal payment\b", text, re.I):
        return method["id"] == original
    same_source = [m for m in methods.values() if m["source"] == method["source"]]
    if method["source"] == "credit_card":
        return method.get("last_four", "----") in text or (
            len(same_source) == 1 and _mentions(text, "credit card")
        )
    word = "paypal" if method["source"] == "paypal" else "gift card"
    return _mentions(text, word) and len(same_source) == 1
