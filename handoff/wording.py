"""What the customer is told when a person takes over, per channel."""

HOLDING_REPLY = "Sorry, I'm having trouble answering right now."

_PERSON_COMING = {
    "voice": "Please hold while I connect you to a member of our team. They'll have our whole conversation.",
    "sms": "A member of our team will reply here shortly. They can see our whole conversation.",
}
_DEFAULT = "I'm bringing in a member of our team. They'll see everything we've talked about, so you won't need to repeat yourself."


def person_coming(channel: str) -> str:
    return _PERSON_COMING.get(channel, _DEFAULT)


def agent_joined(name: str) -> str:
    return f"{name} from our team has joined and will reply here."


BACK_WITH_AI = "You're back with our automated assistant. Ask for a person at any time."
