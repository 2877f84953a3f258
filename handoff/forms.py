"""Forms for the desk and board actions: each field's problem says what to do about it."""

from django import forms

from conversations.models import Conversation

from . import selectors
from .models import Handoff


class ReplyForm(forms.Form):
    text = forms.CharField(error_messages={"required": "type a reply first"})
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
    disposition = forms.CharField(
        required=False,
        max_length=Handoff._meta.get_field("disposition").max_length,
        error_messages={"max_length": "keep the disposition to %(limit_value)d characters"},
    )


class NoteForm(forms.Form):
    text = forms.CharField(error_messages={"required": "type the note first"})


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
