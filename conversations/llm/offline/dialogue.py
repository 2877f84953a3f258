"""The offline engine's dialogue manager: one request at a time, from the customer's words to one action.

Each step either asks the customer (naming the choices), calls read-only tools to learn the account
(several at once), calls the action (the runtime then asks for the customer's yes), or words a result.
How a parameter is found on the account is data on the action (`x-baton` hints in its parameters):
`statuses` an order must be in; for a payment method its `role` (refund, charge, new), the account field
holding the `choices` and the order path of the `original` one; `reads` marks the look-ups, and the
account's `lists` which of its fields holds the ids of orders. What the engine knows itself is how people talk about orders, items
(a name and options) and payment methods (a kind, a brand, the last four digits).
"""

import hashlib
import json
import re
from typing import Any

from conversations.actions.wording import CONFIRM_QUESTION
from infra import entities
from infra.embeddings import similarity

from ..base import ToolCall
from . import reading, wording
from .state import State, hints, is_identify, pluck, properties, required

HANDOFF_TOOL = "transfer_to_human"
TOOL_THRESHOLD = 0.3
FAMILY_MARGIN = 0.12
Step = tuple[str, list[ToolCall]]

# Everyday verbs for what an action's name says it does (the name is data; people say these words).
_VERBS = {
    "cancel": r"\bcancel",
    "return": r"\b(return|send (it |them )?back|refund)",
    "exchange": r"\b(exchange|swap|replace|switch)",
    "modify": r"\b(change|modify|swap|switch|replace|update|upgrade)",
    "address": r"\b(address|ship (it )?to|deliver (it )?to|moved|street)",
    "payment": r"\b(pay(ment)?|paid|charge)\b",
    "items": r"\b(item|items)\b",
    "get": r"\b(status|where is|track|tracking|shipped|arrive|when will)",
}


def call(name: str, arguments: dict[str, Any]) -> ToolCall:
    digest = hashlib.sha1(json.dumps(arguments, sort_keys=True).encode()).hexdigest()[:8]
    return ToolCall(id=f"offline_{name}_{digest}", name=name, arguments=arguments)


def _tool_texts(tool: dict[str, Any]) -> list[str]:
    description = tool["function"].get("description") or ""
    head, _, examples = description.partition(" Examples: ")
    texts = [head.strip()] if head.strip() else []
    texts.extend(re.findall(r'"([^"]+)"', examples))
    return texts or [tool["function"]["name"].replace("_", " ")]


# Asking for another version of something: the words of a swap, whatever is swapped.
_ANOTHER_VERSION = re.compile(
    r"\b(for|to|with|into) (a |an |one |another |the )?(one|version|model|different|other)\b|\binstead\b|"
    r"\bdifferent (size|color|colour|one|version|model)\b",
    re.I,
)


def _score(tool: dict[str, Any], text: str) -> float:
    score = max(similarity(text, _tool_texts(tool)))
    for part in tool["function"]["name"].split("_"):
        if part in _VERBS and re.search(_VERBS[part], text, re.I):
            score += 0.1
    if "new_item_ids" in properties(tool) and _ANOTHER_VERSION.search(text):
        score += 0.15
    return score


# Verbs that name one kind of change outright.
_KINDS = ("cancel", "return", "exchange")
KIND_MARGIN = 0.2


def _says_kind(tool: dict[str, Any], text: str) -> bool:
    return any(
        part in _KINDS and re.search(_VERBS[part], text, re.I) for part in tool["function"]["name"].split("_")
    )


def request_in(state: State, text: str) -> bool:
    """Whether `text` alone asks for one of the actions."""
    candidates = [t for n, t in state.tools.items() if n != HANDOFF_TOOL and not is_identify(t)]
    return any(_score(t, text) >= TOOL_THRESHOLD + 0.1 for t in candidates)


def _shape(tool: dict[str, Any]) -> frozenset[str]:
    """Actions of one shape (same parameters but the order) differ only by the order's status."""
    return frozenset(p for p in properties(tool) if p not in ("order_id", "user_id"))


def choose_goal(state: State) -> list[dict[str, Any]] | None:
    """The tools that can do what the customer asks in this request (best first), or None.

    A message that answers the AI's question never changes the request; a new request does.
    """
    candidates = [t for n, t in state.tools.items() if n != HANDOFF_TOOL and not is_identify(t)]
    if not candidates:
        return None
    chosen: list[dict[str, Any]] | None = None
    for asked, text in state.episode():
        restated = CONFIRM_QUESTION in asked and reading.NEGATIVE.match(text)  # "no, I meant ..."
        if chosen is not None and "?" in asked and not restated:
            continue
        scored = sorted(((_score(t, text), t["function"]["name"], t) for t in candidates), reverse=True)
        best_score, _, best = scored[0]
        if best_score < TOOL_THRESHOLD:
            continue
        # A word that names one kind of change outright ("return", "cancel") beats a closer paraphrase.
        named = [(sc, t) for sc, _, t in scored if _says_kind(t, text) and best_score - sc <= KIND_MARGIN]
        if named and not _says_kind(best, text):
            best_score, best = named[0]
        # "I also want to return the lamp" at a confirmation adds to the request rather than replacing it.
        if chosen is not None:
            kept = [(sc, t) for sc, _, t in scored if t in chosen and best_score - sc <= KIND_MARGIN]
            if kept and (_says_kind(kept[0][1], text) or not _says_kind(best, text)):
                best_score, best = kept[0]
        family = [
            t
            for s, _, t in scored
            if t is best or (best_score - s <= FAMILY_MARGIN and _shape(t) == _shape(best) and _shape(t))
        ]
        chosen = family
    return chosen


class Dialogue:
    """Moves one request forward by one step."""

    def __init__(self, state: State, family: list[dict[str, Any]]) -> None:
        self.state = state
        self.family = family
        self.tool = family[0]
        self.episode = [text for _, text in state.episode()]
        self.window = "\n".join(self.episode)
        self.user_id = state.verified_user

    # --- the step ---------------------------------------------------------------------------------
    def next_step(self) -> Step:
        reads = hints(self.tool).get("reads")
        for tool in self.family:
            done = self.state.result(tool["function"]["name"])
            if done is None or reads:
                continue
            if done.status == "refused" and done.content.get("code") == "verification_required":
                if not self._verified_after(done):
                    return self.verify()
                continue  # verified since the refusal: plan the call again
            return self.word(done)
        if self._needs_customer() and not self.user_id:
            return self.verify()
        needs = set().union(*(properties(t) for t in self.family))
        account: dict[str, Any] | None = None
        orders: dict[str, dict[str, Any]] = {}
        if needs & {"order_id", "payment_method_id"} or not properties(self.tool):
            loaded = self.account()
            if isinstance(loaded, tuple):
                return loaded
            account = loaded
            if "order_id" in needs:
                found = self.orders(account)
                if isinstance(found, tuple):
                    return found
                orders = found
        if reads == "account" or (not properties(self.tool) and account is not None):
            return wording.account(account or {}), []
        order = None
        if "order_id" in needs:
            chosen = self.choose_order(orders)
            if isinstance(chosen, tuple):
                return chosen
            order = chosen
            if reads == "order":
                return (wording.order(order) if order.get("items") else wording.which_order([])), []
            self.tool = self.tool_for_status(order)
        arguments: dict[str, Any] = {}
        for name in properties(self.tool):
            value = self.fill(name, arguments, order, account)
            if isinstance(value, tuple):
                return value
            if value is not None:
                arguments[name] = value
        missing = [r for r in required(self.tool) if r not in arguments]
        if missing:
            described = ", ".join(properties(self.tool).get(m, {}).get("description") or m for m in missing)
            return f"To do that I still need: {described}. Could you tell me?", []
        return "", [call(self.tool["function"]["name"], arguments)]

    def _needs_customer(self) -> bool:
        return any(
            {"order_id", "user_id", "payment_method_id"} & set(properties(t)) or not properties(t)
            for t in self.family
        )

    def _verified_after(self, done) -> bool:
        later = self.state.results[self.state.results.index(done) + 1 :]
        return any(
            r.name in self.state.tools and is_identify(self.state.tools[r.name]) and r.status == "succeeded"
            for r in later
        )

    # --- verification -----------------------------------------------------------------------------
    def verify(self) -> Step:
        identify = {frozenset(properties(t)): n for n, t in self.state.tools.items() if is_identify(t)}
        by_email = identify.get(frozenset({"email"}))
        by_name = identify.get(frozenset({"first_name", "last_name", "zip"}))
        given = reading.identity(self.state.answered_turns())
        tried = [r for r in self.state.results if r.name in (by_email, by_name)]
        if any(r.content.get("code") == "too_many_attempts" for r in tried):
            return wording.NOT_FOUND_AGAIN, [call(HANDOFF_TOOL, {"reason": "customer could not be verified"})]
        if by_email and given.get("email") and not self.state.result(by_email, email=given["email"]):
            return "", [call(by_email, {"email": given["email"]})]
        if by_name and {"first_name", "last_name", "zip"} <= set(given):
            arguments = {k: given[k] for k in ("first_name", "last_name", "zip")}
            if not self.state.result(by_name, **arguments):
                return "", [call(by_name, arguments)]
        if tried:
            return wording.NOT_FOUND, []
        if given.get("first_name") and not given.get("zip") and by_name:
            return f"Thanks, {given['first_name']}. What is the zip code on your account?", []
        return wording.ASK_VERIFICATION, []

    # --- the account ------------------------------------------------------------------------------
    def _reads(self, what: str, keys: list[str]) -> list[dict[str, Any] | None] | Step | None:
        """The records the look-up marked as reading `what` returned for each key, calling it for the missing.

        None when no action reads `what`; a record is None where its look-up failed.
        """
        reader = self.state.tool_reading(what)
        if reader is None:
            return None
        parameter = next(iter(properties(self.state.tools[reader])), None)  # the id it is read by
        arguments = [{parameter: key} if parameter else {} for key in keys]
        missing = [a for a in arguments if self.state.result(reader, **a) is None]
        if missing:
            return "", [call(reader, a) for a in missing]
        found = [self.state.result(reader, **a) for a in arguments]
        return [r.data if r.status == "succeeded" and isinstance(r.data, dict) else None for r in found]

    def account(self) -> dict[str, Any] | Step:
        read = self._reads("account", [self.user_id])
        if isinstance(read, tuple):
            return read
        return (read or [None])[0] or {}

    def orders(self, account: dict[str, Any]) -> dict[str, dict[str, Any]] | Step:
        account_reader = self.state.tool_reading("account")
        lists = hints(self.state.tools[account_reader]).get("lists") if account_reader else None
        listed = next((field for field, what in (lists or {}).items() if what == "order"), "orders")
        ids = [str(o) for o in pluck(account, listed) or []]
        read = self._reads("order", ids)
        if isinstance(read, tuple):
            return read
        return {i: order for i, order in zip(ids, read or [], strict=False) if order}

    def product(self, product_id: str) -> dict[str, Any] | Step | None:
        read = self._reads("product", [product_id])
        if isinstance(read, tuple):
            return read
        return (read or [None])[0]

    # --- which order ------------------------------------------------------------------------------
    def allowed_statuses(self) -> set[str]:
        statuses: set[str] = set()
        for tool in self.family:
            statuses |= set(hints(tool, "order_id").get("statuses") or [])
        return statuses

    def tool_for_status(self, order: dict[str, Any]) -> dict[str, Any]:
        for tool in self.family:
            if order.get("status") in (hints(tool, "order_id").get("statuses") or [order.get("status")]):
                return tool
        return self.family[0]

    def choose_order(self, orders: dict[str, dict[str, Any]]) -> dict[str, Any] | Step:
        named = reading.latest(self.episode, entities.order_ids)
        if named:
            wanted = named[-1]
            if wanted in orders:
                return orders[wanted]
            return {"order_id": wanted, "items": [], "status": ""}  # the action's own checks refuse it
        allowed = self.allowed_statuses()
        fitting = {i: o for i, o in orders.items() if not allowed or o.get("status") in allowed}
        scored = []
        for order_id, order in fitting.items():
            score = self._item_score(order.get("items") or [])
            scored.append((score, order_id))
        best = max((s for s, _ in scored), default=0)
        if best > 0:
            top = [i for s, i in scored if s == best]
            if len(top) == 1:
                return fitting[top[0]]
            return wording.which_order([orders[i] for i in top]), []
        if len(fitting) == 1:
            return next(iter(fitting.values()))
        if not fitting:
            mentioned = [o for o in orders.values() if self._item_score(o.get("items") or [])]
            return wording.no_fitting_order(self.tool, mentioned or list(orders.values()), allowed), []
        return wording.which_order(list(fitting.values())), []

    def _item_score(self, items: list[dict[str, Any]]) -> int:
        names = {i["name"] for i in items}
        full = sum(1 for n in names if reading.mentions_item(n, self.window))
        if full:
            return 2 * full
        return sum(1 for n in names if reading.mentions_head_noun(n, self.window))

    # --- arguments --------------------------------------------------------------------------------
    def fill(
        self,
        name: str,
        arguments: dict[str, Any],
        order: dict[str, Any] | None,
        account: dict[str, Any] | None,
    ) -> Any:
        if name == "order_id":
            return order.get("order_id") if order else None
        if name == "user_id":
            return self.user_id
        if name == "reason":
            schema = properties(self.tool)[name]
            found = reading.latest(self.episode, reading.cancel_reason)
            if found and (not schema.get("enum") or found in schema["enum"]):
                return found
            return wording.ask_reason(schema.get("enum") or [], order), []
        if name in ("address1", "address2", "city", "state", "country", "zip"):
            found = reading.latest(self.episode, entities.postal_address)
            if found is None:
                return wording.ASK_ADDRESS, []
            return found[name]
        if name == "item_ids":
            return self.items(order or {})
        if name == "new_item_ids":
            return self.new_items(order or {}, arguments.get("item_ids") or [])
        if name == "payment_method_id":
            return self.payment(order or {}, account or {})
        if name == "email":
            found = reading.latest(self.episode, entities.emails)
            return found[-1] if found else None
        if name == "product_id":
            found = reading.latest(self.episode, entities.item_ids)
            return found[-1] if found else None
        return None

    def items(self, order: dict[str, Any]) -> list[str] | Step:
        items = order.get("items") or []
        if not items:
            return wording.which_order([]), []
        explicit = [i for i in entities.item_ids(self.window) if any(x["item_id"] == i for x in items)]
        if explicit:
            return list(dict.fromkeys(explicit))
        text = reading.latest(
            self.episode, lambda t: t if self._named(items, t) or reading.ALL_ITEMS.search(t) else None
        )
        text = text or self.window
        excluded: list[str] = []
        exception = reading.EXCEPT.search(text)
        if exception:
            excluded = self._named(items, exception.group(1))
            text = text[: exception.start()]
        if reading.ALL_ITEMS.search(text) and not self._named(items, text):
            return [i["item_id"] for i in items if i["item_id"] not in excluded]
        chosen = [i for i in self._named(items, text) if i not in excluded]
        if chosen and reading.ADDING.search(text):  # "I also want to return the lamp": and the rest
            earlier = [i for t in self.episode if t != text for i in self._named(items, t)]
            chosen = list(dict.fromkeys([*earlier, *chosen]))
        if chosen:
            return chosen
        if excluded:
            return [i["item_id"] for i in items if i["item_id"] not in excluded]
        if len(items) == 1:
            return [items[0]["item_id"]]
        return wording.which_items(order), []

    def _named(self, items: list[dict[str, Any]], text: str) -> list[str]:
        """The items the text names: by product name (or its last word), told apart by their options."""
        by_name = [i for i in items if reading.mentions_item(i["name"], text)]
        if not by_name:
            heads = [i for i in items if reading.mentions_head_noun(i["name"], text)]
            by_name = heads if len({i["name"] for i in heads}) == 1 else []
        chosen = []
        names = [i["name"] for i in items]
        for name in dict.fromkeys(i["name"] for i in by_name):
            same = [i for i in by_name if i["name"] == name]
            if len(same) > 1 and not reading.ALL_ITEMS.search(text):
                same = told_apart(same, [reading.about(name, text, names), self.window])
            chosen.extend(i["item_id"] for i in same)
        return chosen

    def new_items(self, order: dict[str, Any], old_ids: list[str]) -> list[str] | Step:
        if not old_ids:
            return []
        explicit = [i for i in entities.item_ids(self.window) if i not in old_ids]
        if len(explicit) == len(old_ids):
            return explicit
        remaining = list(order.get("items") or [])
        wanted = []
        for old_id in old_ids:
            old = next((i for i in remaining if i["item_id"] == old_id), None)
            if old is None:
                return []
            remaining.remove(old)
            product = self.product(old["product_id"])
            if isinstance(product, tuple):
                return product
            if product is None:
                return []
            others = [i["name"] for i in order.get("items") or []]
            choice = closest_variant(
                old, product, [reading.about(old["name"], t, others) for t in self.episode]
            )
            if choice is None:
                return wording.which_variant(old, product), []
            wanted.append(choice)
        return wanted

    def payment(self, order: dict[str, Any], account: dict[str, Any]) -> str | Step:
        hint = hints(self.tool, "payment_method_id")
        methods = pluck(account, hint.get("choices", "payment_methods")) or {}
        methods = list(methods.values()) if isinstance(methods, dict) else list(methods)
        said = reading.latest(self.episode, reading.payment_words)
        role = hint.get("role", "charge")
        original = pluck(order, hint.get("original"))
        if said is None and role != "new" and len(methods) == 1 and methods[0].get("id"):
            return methods[0]["id"]  # the only payment method on file: nothing to choose
        if said is None:
            if role == "new":
                return wording.ask_payment(methods, role, exclude=original), []
            return wording.ask_payment(methods, role, original=original), []
        if said["kind"] == "id":
            return said["id"]
        if said["kind"] == "original":
            if original:
                return original
            return wording.ask_payment(methods, role), []
        fitting = [m for m in methods if m.get("source") == said["kind"]]
        if said.get("last_four"):
            fitting = [m for m in fitting if m.get("last_four") == said["last_four"]] or fitting
        if said.get("brand"):
            fitting = [m for m in fitting if str(m.get("brand", "")).lower() == said["brand"]] or fitting
        if len(fitting) == 1:
            return fitting[0]["id"]
        if not fitting:
            return (
                f"I couldn't find {wording.kind_words(said['kind'])} on your account. "
                + wording.ask_payment(methods, role),
                [],
            )
        return wording.ask_payment(fitting, role), []

    # --- results ----------------------------------------------------------------------------------
    def word(self, result) -> Step:
        content = result.content
        if result.status == "confirmation_required":
            proposal = wording.confirmation(content.get("summary", ""))
            asked = self.state.episode()[-1][0] if self.state.episode() else ""
            if asked == proposal and reading.NEGATIVE.match(self.state.last_customer):
                return wording.what_differs(content.get("summary", "")), []  # not the same question again
            return proposal, []
        if result.status == "succeeded":
            return wording.success(content), []
        if result.status == "refused":
            code = content.get("code")
            if code in ("verification_required", "not_from_customer"):
                return wording.ASK_VERIFICATION, []
            if code == "not_your_order":
                return wording.not_yours(result.arguments.get("order_id")), []
            return f"I couldn't do that: {content.get('error')}.", []
        if (
            result.status == "rejected"
            and "payment_method_id" in result.arguments
            and re.search(
                r"\b(balance|payment|gift card|card|insufficient|funds)\b", str(content.get("error")), re.I
            )
        ):
            return (
                f"The store can't do that: {content.get('error')}. Nothing was changed. Would you like to use "
                "another payment method, or leave it as it is?",
                [],
            )
        if result.status == "rejected":
            return (
                f"The store can't do that: {content.get('error')}. That's outside what I may change, so I'm "
                "bringing in a colleague.",
                [call(HANDOFF_TOOL, {"reason": f"outside policy: {content.get('error')}"})],
            )
        return wording.BACKEND_DOWN, []


def told_apart(same: list[dict[str, Any]], texts: list[str]) -> list[dict[str, Any]]:
    """Which of several items of one product the words mean: the one whose own options they name most.

    Only options that differ between the items count; the first text that tells them apart decides.
    """
    for text in texts:
        scores = []
        for item in same:
            options = item.get("options") or {}
            own = {
                k: v for k, v in options.items() if any((o.get("options") or {}).get(k) != v for o in same)
            }
            scores.append(sum(1 for k, v in own.items() if reading.mentions_value(k, v, text)))
        best = max(scores)
        if best and scores.count(best) == 1:
            return [same[scores.index(best)]]
    return same[:1]


def closest_variant(old: dict[str, Any], product: dict[str, Any], texts: list[str]) -> str | None:
    """The available variant whose changed options the customer named, keeping the rest as they were.

    The latest message naming any option wins; options named as the item's current ones don't count.
    """
    variants = [
        v
        for v in sorted((product.get("variants") or {}).values(), key=lambda v: v["item_id"])
        if v.get("available") and v["item_id"] != old["item_id"]
    ]
    for text in reversed(texts):
        best, best_key = None, None
        for variant in variants:
            options = variant.get("options") or {}
            changed = {k: v for k, v in options.items() if old["options"].get(k) != v}
            named = sum(1 for k, v in changed.items() if reading.mentions_value(k, v, text))
            if not named:
                continue
            key = (
                named,
                -(len(changed) - named),
                -abs(float(variant.get("price") or 0) - float(old.get("price") or 0)),
            )
            if best_key is None or key > best_key:
                best, best_key = variant["item_id"], key
        if best is not None:
            return best
    return None
