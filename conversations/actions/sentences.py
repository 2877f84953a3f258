"""How an action's change and its result are said to the customer, from data on the action.

A parameter's `x-baton` hint `describe` says how one of its values is said: `key`, the field that
identifies the record (default `id`), and `say`, one template or a list (the first whose fields all
exist wins), e.g. `{"key": "item_id", "say": "{name} ({options}, ${price})"}`. Records are looked up
in the results of the conversation's earlier actions; a nested record inherits the scalar fields of
the records holding it (a product's variant has the product's `name`). A value never read is said as
it is. The parameters' own `x-baton.describe` maps result field names to the same kind of hint.

A result template is one or more lines: the first line whose placeholders all resolve is said.
A placeholder is a dotted path into the result (`{fulfillments.tracking_id}` collects from lists);
a segment may pick list elements by a field (`[transaction_type=refund]`) or by position (`[-1]`).
"""

import re
from collections.abc import Iterator
from typing import Any

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_SEGMENT = re.compile(r"^(\w+)((?:\[[^\[\]]+\])*)$")
_BRACKET = re.compile(r"\[([^\[\]]+)\]")
_IDENTIFIER = re.compile(r"^[a-z]+(_[a-z]+)*$")


class TemplateError(ValueError):
    """A template that cannot be said: a stray brace, an empty or malformed placeholder."""


def placeholders(template: str) -> list[str]:
    """The placeholders of a template, in order; raises TemplateError for stray braces."""
    names = []
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None or not match.group(1).strip():
            raise TemplateError(f"stray or empty brace at character {match.start() + 1}: write {{{{ or }}}}")
        names.append(match.group(1).strip())
    return names


def _fill(template: str, value_of) -> str:
    """The template with each placeholder replaced by `value_of(name)`."""
    placeholders(template)

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return value_of(match.group(1).strip())

    return tidy(_TOKEN.sub(replace, template))


def tidy(text: str) -> str:
    """Spacing and punctuation left by empty values (an empty suite: "12 Oak St, , Austin")."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,;:.)])", r"\1", text)
    text = re.sub(r"([,;])(?:\s*[,;])+", r"\1", text)
    text = re.sub(r"\(\s*[,;]?\s*\)", "", text)
    return re.sub(r"\s+", " ", text).strip(" ,;")


# Values as people read them -------------------------------------------------------------------------
def plain(value: Any) -> str:
    """A value for people: dicts as their values, lists joined, floats with two decimals."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return ", ".join(plain(v) for v in value.values() if v not in (None, ""))
    if isinstance(value, list | tuple):
        return join([plain(v) for v in value])
    return "" if value is None else str(value)


def word(value: Any) -> str:
    """A record's own field for people: identifiers spelled as words (gift_card → gift card, visa → Visa)."""
    if isinstance(value, str) and _IDENTIFIER.match(value):
        return value.replace("_", " ") if "_" in value else value.capitalize()
    return plain(value)


def join(parts: list[str]) -> str:
    parts = [p for p in parts if p]
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def counted(parts: list[str]) -> str:
    """Parts in order, a repeated one once with its count ("2 × Tea Kettle (glass, $54.04)")."""
    counts: dict[str, int] = {}
    for part in parts:
        counts[part] = counts.get(part, 0) + 1
    return join([f"{n} × {part}" if n > 1 else part for part, n in counts.items()])


# Records read earlier ------------------------------------------------------------------------------
def _records(value: Any, inherited: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
        yield {**inherited, **value, "__own__": value}
        for inner in value.values():
            yield from _records(inner, {**inherited, **scalars})
    elif isinstance(value, list):
        for inner in value:
            yield from _records(inner, inherited)


def find_record(results: list[Any], key: str, value: Any) -> dict[str, Any] | None:
    """The first record (results newest first) whose own `key` field is `value`, with inherited fields."""
    wanted = str(value)
    for result in results:
        for record in _records(result, {}):
            own = record.pop("__own__")
            if key in own and str(own[key]) == wanted:
                return record
    return None


def describe(value: Any, hint: dict[str, Any] | None, results: list[Any]) -> str:
    """One value as the hint says it is said, from the record read earlier; else the value as it is."""
    if isinstance(value, list):
        return counted([describe(v, hint, results) for v in value])
    if not hint or not isinstance(hint, dict):
        return plain(value)
    record = find_record(results, str(hint.get("key") or "id"), value)
    say = hint.get("say") or []
    for template in [say] if isinstance(say, str) else say:
        try:
            fields = placeholders(template)
        except TemplateError:
            continue
        if record is not None and all(record.get(f) not in (None, "", [], {}) for f in fields):
            return _fill(template, lambda name, record=record: word(record[name]))
    return plain(value)


# Templates -----------------------------------------------------------------------------------------
def describe_hints(parameters: dict[str, Any], *, for_results: bool = False) -> dict[str, dict[str, Any]]:
    """Each described parameter's hint and the schema's own hints for result fields (which win in results)."""
    own = dict((parameters.get("x-baton") or {}).get("describe") or {})
    of_parameters = {}
    for name, schema in (parameters.get("properties") or {}).items():
        hint = (schema.get("x-baton") or {}).get("describe") if isinstance(schema, dict) else None
        if hint:
            of_parameters[name] = hint
    return {**of_parameters, **own} if for_results else {**own, **of_parameters}


def change(template: str, parameters: dict[str, Any], arguments: dict[str, Any], results: list[Any]) -> str:
    """The exact change in the customer's terms; raises TemplateError for a field the action does not take.

    `{old->new}` pairs two list arguments element by element ("Tea Kettle (glass) → Tea Kettle (steel)").
    """
    declared = set(parameters.get("properties") or {}) | set(arguments)
    unknown = [
        part.strip()
        for name in placeholders(template)
        for part in name.split("->")
        if part.strip() not in declared
    ]
    if unknown:
        raise TemplateError(f"unknown fields: {', '.join(unknown)}")
    hints = describe_hints(parameters)

    def value_of(name: str) -> str:
        if "->" not in name:
            return describe(arguments.get(name), hints.get(name), results)
        old, new = (part.strip() for part in name.split("->", 1))
        olds, news = (v if isinstance(v, list) else [v] for v in (arguments.get(old), arguments.get(new)))
        if len(olds) != len(news):  # not pairs: say both sides whole
            return f"{describe(olds, hints.get(old), results)} → {describe(news, hints.get(new), results)}"
        return counted(
            [
                f"{describe(a, hints.get(old), results)} → {describe(b, hints.get(new), results)}"
                for a, b in zip(olds, news, strict=True)
            ]
        )

    return _fill(template, value_of)


def plain_change(
    action_name: str, parameters: dict[str, Any], arguments: dict[str, Any], results: list[Any]
) -> str:
    """The change said from the action's name and every argument, for an action without a usable template."""
    hints = describe_hints(parameters)
    said = [
        f"{name.replace('_', ' ')} {describe(value, hints.get(name), results)}"
        for name, value in arguments.items()
        if value not in (None, "", [])
    ]
    return tidy(f"{action_name.replace('_', ' ')}: {'; '.join(said)}")


def _resolve(path: str, data: Any) -> list[Any]:
    values = [data]
    for segment in path.split("."):
        match = _SEGMENT.match(segment.strip())
        if match is None:
            raise TemplateError(f"not a path: {path}")
        name, brackets = match.groups()
        found = []
        for value in _flatten(values):
            if isinstance(value, dict) and name in value:
                found.append(value[name])
        values = _flatten(found)
        for bracket in _BRACKET.findall(brackets):
            if "=" in bracket:
                field, _, wanted = bracket.partition("=")
                values = [
                    v for v in values if isinstance(v, dict) and str(v.get(field.strip())) == wanted.strip()
                ]
            elif re.fullmatch(r"-?\d+", bracket.strip()):
                index = int(bracket)
                values = [values[index]] if -len(values) <= index < len(values) else []
            else:
                raise TemplateError(f"not a selection: [{bracket}]")
    return [v for v in _flatten(values) if v not in (None, "", [], {})]


def _flatten(values: list[Any]) -> list[Any]:
    return [inner for v in values for inner in (v if isinstance(v, list) else [v])]


def result(template: str, parameters: dict[str, Any], data: Any, results: list[Any]) -> str:
    """The result said plainly: the first line of the template whose paths all resolve; else ""."""
    hints = describe_hints(parameters, for_results=True)
    for line in template.splitlines():
        if not line.strip():
            continue
        try:
            found = {path: _resolve(path, data) for path in placeholders(line)}
        except TemplateError:
            continue
        if not all(found.values()):
            continue

        def value_of(path: str, found=found) -> str:
            last = _SEGMENT.match(path.split(".")[-1].strip()).group(1)
            values = found[path]
            return describe(values if len(values) > 1 else values[0], hints.get(last), results)

        return _fill(line, value_of)
    return ""
