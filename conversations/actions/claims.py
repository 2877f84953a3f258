"""What an AI reply claims was done, read against the audit log: one reading for the runtime and the operators.

A claim is a statement that a change is complete ("Done, the order is cancelled.", "I've updated the
address", "your refund is on its way"), not an offer, a question, a condition or a denial ("I can
cancel it once you say yes", "it was not changed"). A claim is backed when the latest matching attempt
in the audit log succeeded. A claim of a specific verb ("I've cancelled") made where nothing was
attempted is unbacked too; a plain statement of state ("order #W1 is cancelled") is then taken for a
status read, and a claim of no particular verb ("Done!") for something other than a change.
"""

import re
from dataclasses import dataclass

from infra import entities

from .models import ActionInvocation
from .selectors import ActionRecord

CORRECTION = "Correction: that change was not made"

# What an action's name holds when it does what the verb says ("cancelled" ↔ cancel_pending_order).
# Refunds follow cancellations, returns and exchanges; an order's address, payment or items are modified.
_SPECIFIC = {
    "cancel": (r"cancell?ed", ("cancel",)),
    "refund": (
        r"refunded|credited|reimbursed",
        ("refund", "credit", "cancel", "return", "exchange", "items"),
    ),
    "return": (r"returned", ("return",)),
    "exchange": (r"exchanged|swapped|replaced", ("exchange", "items")),
    "update": (r"updated|changed|modified|corrected|amended|switched|moved", ("update", "modify", "change")),
}
# Verbs of completion that name no action: judged only where a change was attempted.
_GENERIC = r"processed|submitted|placed|issued|completed|initiated|arranged|requested|scheduled|taken care of"
_SPECIFIC_VERB = "|".join(pattern for pattern, _ in _SPECIFIC.values())
_VERB = _SPECIFIC_VERB + "|" + _GENERIC
_FILLER = r"(?:\s+(?:just|now|already|successfully|also|all|fully|gone ahead and|went ahead and))*"
_BE = r"(?:is|are|was|were|'s|'re|got|been)"
# A noun of a change as a subject, for the generic verbs ("your refund has been issued"); "your order
# was placed" is a status.
_CHANGE_NOUN = r"(?:cancellation|refund|return|exchange|change|update|modification|request|replacement)s?"

_FORMS: tuple[tuple[re.Pattern, bool], ...] = (
    # "I've cancelled", "we have updated", "I went ahead and changed": an act of the speaker.
    (re.compile(rf"\b(?:I|we)(?:'ve| have| had)?{_FILLER}\s+(?P<verb>{_VERB})\b", re.I), True),
    # "the order is cancelled", "has been updated", "is now changed": a change stated as done.
    (re.compile(rf"\b{_BE}{_FILLER}\s+(?P<verb>{_SPECIFIC_VERB})\b", re.I), False),
    (
        re.compile(rf"\b{_CHANGE_NOUN}\b[^.!?,;]{{0,30}}?\b{_BE}{_FILLER}\s+(?P<verb>{_GENERIC})\b", re.I),
        False,
    ),
    # "Order #W1 cancelled.", "refund issued": the telegraphic form.
    (
        re.compile(
            rf"\b(?:order|address|payment|item)s?(?:\s+#?W\d{{7}})?\s+(?P<verb>{_SPECIFIC_VERB})\b"
            rf"|\b{_CHANGE_NOUN}(?:\s+#?W\d{{7}})?\s+(?P<verb2>{_VERB})\b",
            re.I,
        ),
        False,
    ),
    # "Done!", "All set.", "that's taken care of", "the cancellation went through".
    (
        re.compile(
            r"(?:^|(?<=[.!?;:]\s))(?P<verb>(?:all\s+)?done|all\s+set)\b(?![\s,]+(?:with|by|for|in|when|once|after|yet)\b)"
            r"|\b(?:it's|that's|it is|that is|you're|you are|everything's|everything is)\s+(?:all\s+)?"
            r"(?P<verb2>done|set|sorted)\b"
            rf"|\b{_CHANGE_NOUN}\s+(?:has\s+|have\s+)?(?P<verb3>went through|gone through)\b",
            re.I | re.M,
        ),
        False,
    ),
    # "your refund is on its way", "the replacement is on its way" (an order on its way is a status).
    (
        re.compile(
            r"\b(?P<noun>refund|replacement|exchange|new (?:item|one)s?)\b[^.!?]{0,30}?\b(?:is|are)\s+"
            r"(?P<verb>on (?:its|their) way)\b",
            re.I,
        ),
        False,
    ),
)
_NEGATION = re.compile(
    r"\b(?:not|never|no|nothing|none|neither|nor|without|cannot|unable|yet to|failed to)\b|n't\b", re.I
)
_CONDITION = re.compile(
    r"\b(?:if|once|when|whenever|after|before|until|unless|as soon as|would|could|should|might|may|must|"
    r"will|shall|can|to be|ready to)\b",
    re.I,
)
_CLAUSE_END = re.compile(r"[.!?;:\n]|,\s|\s[—–-]\s|\bbut\b", re.I)
_SENTENCE_END = re.compile(r"[.!?\n]")


@dataclass(frozen=True)
class Claim:
    span: tuple[int, int]
    words: str
    stems: tuple[str, ...]  # what the name of an action doing it holds; () for any change
    firm: bool  # judged even where nothing was attempted
    order_ids: tuple[str, ...]  # the orders its sentence names


@dataclass(frozen=True)
class Unbacked:
    claim: Claim
    attempt: ActionRecord | None  # the latest matching attempt (it did not succeed), or None


def _stems(verb: str, noun: str) -> tuple[str, ...]:
    if noun:
        return _SPECIFIC["refund"][1] if noun.lower() == "refund" else _SPECIFIC["exchange"][1]
    for pattern, stems in _SPECIFIC.values():
        if re.fullmatch(pattern, verb, re.I):
            return stems
    return ()


def _sentence(text: str, start: int, end: int) -> str:
    before = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    after = _SENTENCE_END.search(text, end)
    return text[before : after.end() if after else len(text)]


def _asserted(text: str, start: int, end: int) -> bool:
    """The words at start..end state a fact: not in a question, nor after a negation or condition in their clause."""
    sentence = _sentence(text, start, end)
    if sentence.rstrip().endswith("?"):
        return False
    clause_start = max((m.end() for m in _CLAUSE_END.finditer(text, 0, start)), default=0)
    clause = text[clause_start:start]
    return not (_NEGATION.search(clause) or _CONDITION.search(clause))


def claims_in(text: str) -> list[Claim]:
    """The completion claims of `text`, in order of appearance."""
    text = text.replace("\u2019", "'")
    found: dict[int, Claim] = {}
    for pattern, firm in _FORMS:
        for match in pattern.finditer(text):
            group = next(g for g in ("verb", "verb2", "verb3") if g in match.re.groupindex and match.group(g))
            start, end = match.span()
            if start in found or not _asserted(text, match.start(group), end):
                continue
            stems = _stems(match.group(group), match.groupdict().get("noun") or "")
            found[start] = Claim(
                span=(start, end),
                words=match.group(0).strip(),
                stems=stems,
                firm=firm and bool(stems),
                order_ids=tuple(entities.order_ids(_sentence(text, start, end))),
            )
    return [found[start] for start in sorted(found)]


def _attempts(claim: Claim, records: list[ActionRecord]) -> list[ActionRecord]:
    """The audited calls the claim can be about, in the order their outcome was settled."""
    matching = []
    for record in records:
        name = record["action"].lower()
        if claim.stems and not any(stem in name for stem in claim.stems):
            continue
        if not claim.stems and not record["changes_something"]:
            continue
        order_id = (record["arguments"] or {}).get("order_id")
        if claim.order_ids and order_id and order_id not in claim.order_ids:
            continue
        matching.append(record)
    return sorted(matching, key=lambda r: r["settled_at"])


def unbacked_claim(text: str, records: list[ActionRecord]) -> Unbacked | None:
    """The first claim of `text` the audit log (`records`, oldest first) does not back, if any."""
    for claim in claims_in(text):
        attempts = _attempts(claim, records)
        latest = attempts[-1] if attempts else None
        if latest is not None and latest["status"] == ActionInvocation.Status.SUCCEEDED:
            continue
        if latest is None and not claim.firm:
            continue
        return Unbacked(claim, latest)
    return None


def _why(attempt: ActionRecord | None) -> str:
    """Why the change was not made, in the customer's terms."""
    if attempt is None:
        return "nothing was changed"
    status = attempt["status"]
    code = attempt["error"].split(":", 1)[0] if status == ActionInvocation.Status.REFUSED else ""
    if status == ActionInvocation.Status.AWAITING_CONFIRMATION or code == "repeated":
        return "it is waiting for your yes"
    if status == ActionInvocation.Status.DECLINED:
        return "you said no, so I left it as it was"
    reasons = {
        "not_your_order": "I couldn't verify that order is yours",
        "not_your_account": "I can change only your own account",
        "verification_required": "I need to verify who you are first",
        "already_handled": "it was already being handled",
    }
    if code in reasons:
        return reasons[code]
    if status == ActionInvocation.Status.REJECTED:
        return "the store did not accept it"
    if status == ActionInvocation.Status.FAILED:
        return "our order system did not complete it"
    return "I wasn't able to make it"


def correction(unbacked: Unbacked) -> str:
    """The sentence that sets an unbacked claim right, said in the same reply."""
    return f"{CORRECTION} — {_why(unbacked.attempt)}."
