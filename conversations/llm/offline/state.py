"""What one call of the offline engine knows: the dialogue, the tools and this turn's tool results.

Each call re-reads the whole conversation, so the engine keeps no state of its own: any process can
run any turn. A goal ends with a reply that starts with `DONE` (the engine's own wording of a change
made), so the turns after it are a new request.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

DONE = "Done:"
_VERIFIED = re.compile(r"verified as store user_id `([^`]+)`")


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


def properties(tool: dict[str, Any]) -> dict[str, Any]:
    return (tool["function"].get("parameters") or {}).get("properties") or {}


def required(tool: dict[str, Any]) -> list[str]:
    return list((tool["function"].get("parameters") or {}).get("required") or [])


def hints(tool: dict[str, Any], parameter: str | None = None) -> dict[str, Any]:
    """The action's `x-baton` hints: how the engine resolves a parameter from the account (data, not code)."""
    schema = tool["function"].get("parameters") or {}
    if parameter is not None:
        schema = properties(tool).get(parameter) or {}
    return schema.get("x-baton") or {}


def pluck(record: Any, path: str | None) -> Any:
    """The value at a dotted path of a record ("payment_history.0.payment_method_id"), or None."""
    value = record
    for key in (path or "").split(".") if path else []:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.lstrip("-").isdigit() and -len(value) <= int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


_IDENTIFY_PARAMS = ({"email"}, {"first_name", "last_name", "zip"})


def is_identify(tool: dict[str, Any]) -> bool:
    return set(properties(tool)) in _IDENTIFY_PARAMS


@dataclass
class State:
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

    def answered_turns(self) -> list[tuple[str, str]]:
        """(what the AI said just before, the customer's message) for every customer message."""
        pairs, previous = [], ""
        for role, text in self.dialogue:
            if role == "user":
                pairs.append((previous, text))
            else:
                previous = text
        return pairs

    def episode(self) -> list[tuple[str, str]]:
        """The customer's messages since the AI last reported a change made (the current request)."""
        pairs = self.answered_turns()
        start = 0
        for index, (asked, _) in enumerate(pairs):
            if asked.startswith(DONE):
                start = index
        return pairs[start:]

    def result(self, name: str, **arguments: Any) -> Result | None:
        for r in reversed(self.results):
            if r.name == name and all(r.arguments.get(k) == v for k, v in arguments.items()):
                return r
        return None

    @property
    def verified_user(self) -> str | None:
        for r in self.results:
            if r.name in self.tools and is_identify(self.tools[r.name]) and r.status == "succeeded":
                return (r.data or {}).get("user_id")
        match = _VERIFIED.search(self.system)
        return match.group(1) if match else None

    def tool_reading(self, what: str) -> str | None:
        """The tool the actions mark as reading `what` (account, order, product)."""
        for name, tool in self.tools.items():
            if hints(tool).get("reads") == what:
                return name
        return None
