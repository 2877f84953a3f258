"""Words shared by the runtime and the offline engine: the confirmation question and yes/no answers."""

import re

CONFIRM_QUESTION = "Shall I go ahead? Please answer yes or no."

_YES = re.compile(
    r"^\s*(yes|yeah|yep|yup|sure|correct|confirm(ed)?|ok(ay)?|go ahead|please do|do it|that'?s right|"
    r"absolutely|affirmative|y)\b",
    re.I,
)
_NO = re.compile(r"\b(no|nope|don'?t|do not|stop|cancel that|wait|never ?mind|not now)\b", re.I)


def is_affirmative(text: str) -> bool:
    """An explicit yes: the message starts with a yes word and holds no refusal."""
    return bool(_YES.match(text)) and not _NO.search(text)


def is_negative(text: str) -> bool:
    """An explicit no: the message starts with a refusal."""
    return bool(re.match(r"^\s*(no|nope|nah|don'?t|do not|stop|never ?mind|not now)\b", text, re.I))
