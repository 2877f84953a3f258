"""Typed values the offline engine reads from a customer's words: order ids, emails, names, zips, addresses, items."""

import re

ORDER_ID = re.compile(r"#?\b(W\d{7})\b", re.I)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
ITEM_ID = re.compile(r"\b\d{10}\b")
ZIP_AFTER_WORD = re.compile(r"\bzip(?:\s*code)?\s*(?:is|:|=)?\s*(\d{5})\b", re.I)
NAME = re.compile(
    r"\b(?:my name is|name's|i am|i'm|this is|it's)\s+([A-Za-z][a-z'-]+)\s+([A-Za-z][a-z'-]+)", re.I
)
ADDRESS = re.compile(
    r"(\d+\s+[A-Za-z0-9 .'-]+?),\s*(?:((?:suite|ste\.?|apt\.?|apartment|unit|#)\s*[\w-]+),\s*)?"
    r"([A-Za-z .'-]+?),\s*([A-Za-z]{2})\s*,?\s*(\d{5})(?:\s*,?\s*(USA|United States|US))?\b",
    re.I,
)
_NOT_NAMES = {"looking", "trying", "calling", "writing", "here", "not", "sure", "sorry", "just", "a", "the"}


def order_ids(text: str) -> list[str]:
    return ["#" + m.upper() for m in ORDER_ID.findall(text)]


def emails(text: str) -> list[str]:
    return [e.lower() for e in EMAIL.findall(text)]


def item_ids(text: str) -> list[str]:
    return ITEM_ID.findall(text)


def name_and_zip(text: str) -> tuple[str, str, str] | None:
    """(first name, last name, zip) when the customer gave all three."""
    name = NAME.search(text)
    zip_code = ZIP_AFTER_WORD.search(text)
    if not name or not zip_code:
        return None
    first, last = name.group(1), name.group(2)
    if first.lower() in _NOT_NAMES or last.lower() in _NOT_NAMES:
        return None
    return first.capitalize(), last.capitalize(), zip_code.group(1)


def address(text: str) -> dict[str, str] | None:
    """A US postal address written on one line: street, [suite,] city, state zip[, country]."""
    match = ADDRESS.search(text)
    if not match:
        return None
    street, suite, city, state, zip_code, _country = match.groups()
    return {
        "address1": " ".join(street.split()),
        "address2": " ".join((suite or "").split()),
        "city": " ".join(city.split()),
        "state": state.upper(),
        "country": "USA",
        "zip": zip_code,
    }


def cancel_reason(text: str) -> str | None:
    lowered = text.lower()
    if "mistake" in lowered or "by accident" in lowered or "accidentally" in lowered:
        return "ordered by mistake"
    if re.search(
        r"no longer need|don'?t need|do not need|not need|changed my mind|don'?t want|no longer want", lowered
    ):
        return "no longer needed"
    return None


def mentions(value: str, text: str) -> bool:
    """Whether `value` appears in `text` as whole words, ignoring case."""
    return bool(re.search(r"(?<![\w-])" + re.escape(value.lower()) + r"(?![\w-])", text.lower()))
