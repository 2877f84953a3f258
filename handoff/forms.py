"""Forms for the desk and board actions: each field's problem says what to do about it."""

from django import forms

from conversations.models import Conversation
from infra.text import DISPOSITION_MAX_CHARS, MESSAGE_MAX_CHARS, NOTE_MAX_CHARS, clean_text

from . import selectors


class TypedTextField(forms.CharField):
    """Text a person typed: control characters removed (`infra.text`) before it is stripped and checked."""

    def __init__(self, *, what: str, limit: int, **kwargs) -> None:
        super().__init__(max_length=limit, **kwargs)
        self.error_messages["max_length"] = (
            f"{what} is limited to {limit:,} characters (%(show_value)d sent): send a shorter one"
        )

    def to_python(self, value):
        return super().to_python(clean_text(value) if isinstance(value, str) else value)


class ReplyForm(forms.Form):
    text = TypedTextField(
        what="a reply", limit=MESSAGE_MAX_CHARS, error_messages={"required": "type a reply first"}
    )
    draft_id = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={
            "invalid": "the draft is not one of ours; reload the conversation",
            "min_value": "the draft is not one of ours; reload the conversation",
        },
    )


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=Conversation.Outcome.choices,
        error_messages={
            "required": "pick an outcome",
            "invalid_choice": "pick an outcome from the list",
        },
    )
    disposition = TypedTextField(what="the closing note", limit=DISPOSITION_MAX_CHARS, required=False)


class NoteForm(forms.Form):
    text = TypedTextField(
        what="a note", limit=NOTE_MAX_CHARS, error_messages={"required": "type the note first"}
    )


class ReassignForm(forms.Form):
    agent_id = forms.ModelChoiceField(
        queryset=selectors.staff_agents(),
        error_messages={
            "required": "pick an agent",
            "invalid_choice": "pick an agent from the list (reload the page if it is out of date)",
        },
    )


def first_problem(form: forms.Form) -> str:
    """The first field error of an invalid form, as the sentence to show next to it."""
    return next(iter(form.errors.values()))[0]
