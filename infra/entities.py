"""The one module of entity patterns: order ids, emails, phones, zips, names, addresses, item ids, card numbers.

Used by the offline engine (to fill action arguments), the memory extractor (to record traits) and
the operators (to find and mask card numbers), so each kind of value is recognised one way.
"""

import re

# Demo-store order ids: W and seven digits, written with or without "#".
ORDER_ID = re.compile(r"#?\b(W\d{7})\b", re.I)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
PHONE = re.compile(r"(?<![\w#])\+?\d[\d ().-]{7,16}\d\b")
ITEM_ID = re.compile(r"\b\d{10}\b")
LABELLED_ZIP = re.compile(r"\b(?:zip(?:\s*code)?|post(?:al)?\s*code)\s*(?:is|:|=)?\s*(\d{5})\b", re.I)
# After "my name is" a name in any case; after "I'm" / "this is" only a capitalised one ("this is terrible").
INTRODUCED_NAME = re.compile(
    r"\b(?:(?i:my name is|my name's|name's)\s+([A-Za-z][a-z'-]+)(?:\s+([A-Za-z][a-z'-]+))?"
    r"|(?i:i am|i'm|this is|it's)\s+([A-Z][a-z'-]+)(?:\s+([A-Z][a-z'-]+))?)"
)
# Words that follow "I'm" / "this is" without being a name.
NOT_NAMES = frozenset(
    "a the just not very so really still looking calling writing trying here fine good sorry sure "
    "happy glad afraid".split()
)
# A US postal address on one line: street, [suite,] city, state zip[, country].
POSTAL_ADDRESS = re.compile(
    r"(?<![\w#])(\d+\s+[A-Za-z0-9 .'-]+?),\s*(?:((?:suite|ste\.?|apt\.?|apartment|unit|#)\s*[\w-]+),\s*)?"
    r"([A-Za-z .'-]+?),\s*([A-Za-z]{2})\s*,?\s*(\d{5})(?:\s*,?\s*(USA|United States|US))?\b",
    re.I,
)
# A street named in passing ("I moved to 12 Oak Street, Springfield 62704").
STREET_ADDRESS = re.compile(
    r"\b(\d{1,6}\s+(?:[A-Z0-9][\w.'-]*\s+){1,5}(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|"
    r"way|court|ct|place|pl|square|sq|terrace|parkway|pkwy|circle|cir)\b\.?(?:[^.!?\n]{0,80}?\b\d{5}\b)?)",
    re.I,
)
# 13-19 digits, optionally grouped by spaces or dashes; a card number when it passes Luhn.
CARD_NUMBER = r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"


def order_ids(text: str) -> list[str]:
    """Order ids in `text`, as the store writes them (#W1234567), in order of appearance."""
    return ["#" + m.upper() for m in ORDER_ID.findall(text)]


def emails(text: str) -> list[str]:
    return [e.lower() for e in EMAIL.findall(text)]


def phones(text: str) -> list[str]:
    """Phone numbers in `text` in E.164 (a 10-digit number is taken as North American)."""
    found = []
    for raw in PHONE.findall(text):
        digits = re.sub(r"\D", "", raw)
        if 10 <= len(digits) <= 15 and not ORDER_ID.search(raw):
            found.append("+" + (digits if len(digits) > 10 else "1" + digits))
    return found


def item_ids(text: str) -> list[str]:
    return ITEM_ID.findall(text)


def labelled_zip(text: str) -> str | None:
    """A zip code the customer labelled as one ("zip 19031", "my postal code is 19031")."""
    found = LABELLED_ZIP.search(text)
    return found.group(1) if found else None


def introduced_name(text: str) -> tuple[str, str] | None:
    """(first, last) from "my name is …" / "I'm …"; last is "" when only one name was given."""
    found = INTRODUCED_NAME.search(text)
    if not found:
        return None
    first, last = found.group(1) or found.group(3), found.group(2) or found.group(4) or ""
    if first.lower() in NOT_NAMES:
        return None
    if last.lower() in NOT_NAMES or last.lower() in {"and", "my", "from", "with", "at"}:
        last = ""
    return first.capitalize(), last.capitalize()


def name_and_zip(text: str) -> tuple[str, str, str] | None:
    """(first name, last name, zip) when the customer gave all three."""
    name, zip_code = introduced_name(text), labelled_zip(text)
    if not name or not name[1] or not zip_code:
        return None
    return name[0], name[1], zip_code


def postal_address(text: str) -> dict[str, str] | None:
    """A US postal address written on one line, as the store's address fields."""
    match = POSTAL_ADDRESS.search(text)
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


def street_address(text: str) -> str | None:
    found = STREET_ADDRESS.search(text)
    return re.sub(r"\s+", " ", found.group(1)).strip(" .,") if found else None


def luhn_valid(digits: str) -> bool:
    """True when `digits` passes the Luhn checksum payment card numbers carry."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_number_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Spans of Luhn-valid card numbers in `text`."""
    spans = []
    for match in re.finditer(CARD_NUMBER, text):
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            spans.append(match.span())
    return tuple(spans)


def mentions(value: str, text: str) -> bool:
    """Whether `value` appears in `text` as whole words, ignoring case."""
    return bool(re.search(r"(?<![\w-])" + re.escape(value.lower()) + r"(?![\w-])", text.lower()))
