"""Reading a customer's words: what they ask for, who they say they are, which things they mean.

Pure functions over text (and, once the account is read, over its orders and payment methods). The
dialogue manager (`dialogue.py`) calls them on every turn; the latest statement of a value wins.
"""

import re
from typing import Any

from infra import entities
from infra.questions import QUESTION

_WORD = re.compile(r"[a-z0-9']+")
STOPWORDS = frozenset(
    "a an the and or but if of to in on at for with by from is are was were be been am i me my you your "
    "we our it its this that these those do does did can could would should will shall may might have has "
    "had not no yes so as what which who whom how when where why there here please thanks thank hi hello "
    "hey about into than then them they their just get got want need like".split()
)
GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|howdy)( there)?\b[\s!.,]*$", re.I)
THANKS = re.compile(
    r"^\s*(ok(ay)?[,.! ]*)?(great[,.! ]*|perfect[,.! ]*|awesome[,.! ]*)?(thanks?( you)?|thx|cheers|that'?s (all|it|everything)|"
    r"bye|goodbye|no,? that'?s all|nothing else|that will be all)\b[^?]*$",
    re.I,
)
CAPABILITIES = re.compile(r"\b(what can you do|what do you do|how can you help|what can you help)\b", re.I)
HUMAN_REQUEST = re.compile(
    r"\b(human|real person|a person|someone real|live agent|an agent|representative|operator|"
    r"talk to (someone|somebody)|speak to (someone|somebody)|customer service rep)\b",
    re.I,
)
NEGATED_HUMAN = re.compile(
    r"\b(don'?t|do not|no need|not|never|without)\b[^.?!]{0,25}\b(human|person|agent|representative|operator)\b",
    re.I,
)
# Words that add to what was asked rather than replace it.
ADDING = re.compile(r"\b(also|as well|in addition)\b", re.I)
NEGATIVE = re.compile(r"^\s*(no|nope|nah|don'?t|do not|stop|never ?mind|not now|wait)\b", re.I)
UNKNOWN_ID = re.compile(
    r"\b(don'?t|do not|can'?t|cannot|no idea|not sure)\b[^.?!]{0,40}\b(know|remember|recall|have|find|sure)\b"
    r"[^.?!]{0,30}\b(order|number|id)\b|\blook (it )?up\b",
    re.I,
)
ALL_ITEMS = re.compile(r"\b(all|everything|whole order|entire order|both|all of them|every item)\b", re.I)
EXCEPT = re.compile(r"\b(?:except|but not|other than|apart from|besides)\b(.*)$", re.I | re.S)
_ZIP_ALONE = re.compile(r"(?<![\w#$.-])(\d{5})(?![\w.-])")
_NAME_ANSWER = re.compile(r"^\s*(?:(?:it'?s|i'?m|name:?)\s+)?([A-Za-z][a-z'-]+)\s+([A-Za-z][a-z'-]+)\b")
_NOT_NAME_WORDS = (
    entities.NOT_NAMES
    | STOPWORDS
    | {
        "order",
        "zip",
        "code",
        "email",
        "cancel",
        "return",
        "exchange",
        "change",
        "yes",
        "sure",
        "okay",
        "ok",
        "thanks",
    }
)
CANCEL_REASONS = (
    (
        "ordered by mistake",
        re.compile(r"\b(mistake|by accident|accidentally|wrong order|didn'?t mean)\b", re.I),
    ),
    (
        "no longer needed",
        re.compile(
            r"\b(no longer need|don'?t need|do not need|not need|changed my mind|don'?t want|no longer want|"
            r"not needed|no need|won'?t need|found (it|them|one) cheaper|too expensive|cheaper)",
            re.I,
        ),
    ),
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOPWORDS and len(w) > 2}


def asks_for_human(text: str) -> bool:
    return bool(HUMAN_REQUEST.search(text)) and not NEGATED_HUMAN.search(text)


def is_small_talk(text: str) -> str | None:
    """'greeting', 'thanks' or 'capabilities' when that is all the message says."""
    if not text.strip() or GREETING.match(text):
        return "greeting"
    if CAPABILITIES.search(text):
        return "capabilities"
    if THANKS.match(text) and len(words(text)) <= 12:
        return "thanks"
    return None


_PERSONAL = re.compile(r"\b(i|i'?m|i'?d|i'?ve|my|me|mine|we|our|us)\b", re.I)


def is_general_question(text: str) -> bool:
    """A question about the service, not about the customer's own account ("do you ship abroad?")."""
    return bool(QUESTION.search(text)) and not _PERSONAL.search(text) and not entities.order_ids(text)


def cancel_reason(text: str) -> str | None:
    for reason, pattern in CANCEL_REASONS:
        if pattern.search(text):
            return reason
    return None


# --- identity ------------------------------------------------------------------------------------


def identity(turns: list[tuple[str, str]]) -> dict[str, str]:
    """Email, first and last name and zip from the customer's turns, each the latest one given.

    `turns` is (what the AI said before, what the customer answered). A bare name or zip counts only
    as an answer to a question about identity, or beside the other half ("Aarav Anderson, 19031").
    """
    found: dict[str, str] = {}
    for asked, text in turns:
        asked_identity = bool(re.search(r"\b(name|zip|email|verify)\b", asked, re.I))
        emails = entities.emails(text)
        if emails:
            found["email"] = emails[-1]
        without_emails = entities.EMAIL.sub(" ", text)
        zip_code = entities.labelled_zip(without_emails)
        if zip_code is None:
            address = entities.postal_address(without_emails)
            bare = [
                z
                for z in _ZIP_ALONE.findall(entities.ORDER_ID.sub(" ", without_emails))
                if not address or z != address["zip"]
            ]
            if bare and (asked_identity or _answer_name(without_emails)):
                zip_code = bare[-1]
        name = entities.introduced_name(without_emails)
        if name is None or not name[1]:
            name = _answer_name(without_emails) if (asked_identity or zip_code) else name
        if zip_code:
            found["zip"] = zip_code
        if name and name[1]:
            found["first_name"], found["last_name"] = name
    return found


def _answer_name(text: str) -> tuple[str, str] | None:
    """A full name given as an answer: "Aarav Anderson", "it's aarav anderson, 19031"."""
    match = _NAME_ANSWER.match(text)
    if not match:
        return None
    first, last = match.group(1), match.group(2)
    if first.lower() in _NOT_NAME_WORDS or last.lower() in _NOT_NAME_WORDS:
        return None
    return first.capitalize(), last.capitalize()


# --- things on the account ------------------------------------------------------------------------


def mentions_value(key: str, value: Any, text: str) -> bool:
    """Whether the customer named an option value; short or numeric values count only beside their key."""
    value = str(value)
    if len(value) <= 2 or value.replace(".", "").isdigit() or value.lower() in _PLAIN_WORDS:
        v, k = re.escape(value.lower()), re.escape(key.lower())
        pattern = rf"\b{k}\W+(?:\w+\W+)?{v}(?!\w|\.\d)|(?<!\w)(?<!\d\.){v}\W+{k}\b"
        return bool(re.search(pattern, text.lower()))
    return entities.mentions(value, text)


# Option values that are everyday words ("water resistance: yes"): they count only beside their option.
_PLAIN_WORDS = frozenset("yes no none true false standard regular basic".split())


def mentions_item(name: str, text: str) -> bool:
    lowered = name.lower()
    return (
        entities.mentions(lowered, text)
        or entities.mentions(lowered + "s", text)
        or entities.mentions(lowered + "es", text)
        or entities.mentions(lowered.replace("-", " "), text)
    )


def mentions_head_noun(name: str, text: str) -> bool:
    """'the kettle' for a Tea Kettle: the last word of a product name, singular or plural."""
    head = name.lower().split()[-1]
    return len(head) > 3 and (entities.mentions(head, text) or entities.mentions(head + "s", text))


def _spans(name: str, text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Where the text names a product: by its full name (or plural), and by its last word alone."""
    lowered, low_text = name.lower(), text.lower()

    def find(forms: list[str]) -> list[tuple[int, int]]:
        pattern = "|".join(re.escape(f) for f in sorted(set(forms), key=len, reverse=True))
        return [m.span() for m in re.finditer(rf"(?<![\w-])(?:{pattern})(?![\w-])", low_text)]

    full = find([lowered, lowered + "s", lowered + "es", lowered.replace("-", " ")])
    head = lowered.split()[-1]
    return full, (find([head, head + "s"]) if len(head) > 3 else [])


def about(name: str, text: str, other_names: list[str]) -> str:
    """The parts of `text` about one product: from each mention of it to the next mention of another.

    "the mouse for a white one and the bookshelf for a glass one": white is about the mouse only.
    A text naming none of them is about whichever the conversation is on.
    """
    names = {n.lower() for n in [name, *other_names]}
    spans = {n: _spans(n, text) for n in names}
    fulls = [s for full, _ in spans.values() for s in full]

    def starts(n: str) -> list[int]:
        full, head = spans[n]
        alone = [h for h in head if not any(a <= h[0] < b for a, b in fulls)]
        return sorted({s for s, _ in full + alone})

    own = starts(name.lower())
    others = sorted({p for n in names if n != name.lower() for p in starts(n)})
    if not own:
        return "" if others else text
    parts = []
    for start in own:
        end = next((p for p in others if p > start), None)
        # The words just before another product's name describe that product ("a metal bookshelf").
        parts.append(_LEADING_WORDS.sub("", text[start:end]) if end is not None else text[start:])
    return " ".join(parts)


_DETERMINER = r"(?:a|an|the|my|your|this|that|and)"
_LEADING_WORDS = re.compile(rf"\b{_DETERMINER}\s+(?:(?!{_DETERMINER}\b)[\w%.-]+\s+){{0,3}}$", re.I)


def payment_words(text: str) -> dict[str, str] | None:
    """What payment method the words describe: {'kind': original|paypal|gift_card|credit_card, ...}."""
    lowered = text.lower()
    explicit = re.findall(r"\b((?:credit_card|gift_card|paypal)_\d+)\b", lowered)
    if explicit:
        return {"kind": "id", "id": explicit[-1]}
    if re.search(
        r"\b(original|same) (payment|method|card|account|way)|\b(original|same) one\b|\bpaid with\b|"
        r"\bi (used|paid)\b|\boriginal\b",
        lowered,
    ):
        return {"kind": "original"}
    last_four = re.search(r"\b(?:ending|ends|last four|last 4)\D{0,12}(\d{4})\b", lowered)
    brand = re.search(r"\b(visa|mastercard|master card|amex|american express|discover)\b", lowered)
    if last_four or brand or re.search(r"\b(credit|debit) card\b", lowered):
        found = {"kind": "credit_card"}
        if last_four:
            found["last_four"] = last_four.group(1)
        if brand:
            found["brand"] = brand.group(1).replace(" ", "").replace("americanexpress", "amex")
        return found
    if "paypal" in lowered or "pay pal" in lowered:
        return {"kind": "paypal"}
    if re.search(r"\bgift ?card\b", lowered):
        return {"kind": "gift_card"}
    return None


def latest(texts: list[str], read) -> Any:
    """What `read` finds in the latest of `texts` that holds anything (the latest statement wins)."""
    for text in reversed(texts):
        found = read(text)
        if found:
            return found
    return None
