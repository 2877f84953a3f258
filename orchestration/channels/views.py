"""Twilio webhooks (DESIGN.md "Twilio"): every one checks X-Twilio-Signature before reading anything."""

import json
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from conversations.identity import InvalidAddress
from handoff.models import Handoff
from handoff.wording import person_coming
from infra.text import clean_text

from . import sms, twiml, voice
from .twilio_security import twilio_webhook

logger = logging.getLogger(__name__)

FIELD_MAX_CHARS = 64  # SIDs (34 characters), numbers, statuses: the longest column that holds one


def _twiml(document: str) -> HttpResponse:
    return HttpResponse(document, content_type="text/xml")


def _field(request: HttpRequest, name: str, limit: int = FIELD_MAX_CHARS) -> str:
    """A form field as it may be stored: cleaned and cut (Twilio's own fields are short; longer is not theirs)."""
    return clean_text(request.POST.get(name, "")).strip()[:limit]


def _required(request: HttpRequest, *names: str) -> dict[str, str] | HttpResponse:
    values = {name: _field(request, name) for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing:
        return HttpResponseBadRequest(f"missing {', '.join(missing)}", content_type="text/plain")
    return values


@csrf_exempt  # Twilio cannot send a CSRF token; the signature check authenticates the request
@require_POST
@twilio_webhook
def voice_incoming(request: HttpRequest) -> HttpResponse:
    fields = _required(request, "CallSid")
    if isinstance(fields, HttpResponse):
        return fields
    call = voice.open_call(call_sid=fields["CallSid"], from_number=_field(request, "From"))
    use_case = call.conversation.use_case
    return _twiml(
        twiml.connect_to_relay(
            greeting=use_case.greeting if use_case else "",
            call_token=voice.issue_call_token(call_sid=fields["CallSid"]),
        )
    )


@csrf_exempt
@require_POST
@twilio_webhook
def voice_handoff(request: HttpRequest) -> HttpResponse:
    """The `<Connect action>`: route the caller to a person when the relay handed off (or failed), else hang up."""
    call_sid = _field(request, "CallSid")
    raw = request.POST.get("HandoffData", "")
    if raw:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            data = {}
        data = data if isinstance(data, dict) else {}
        reason, detail = str(data.get("reason") or ""), "handed off by the voice relay"
    elif request.POST.get("SessionStatus") == "failed" or request.POST.get("ErrorCode"):
        # The relay broke mid-call: a person takes the caller rather than hanging up on them.
        reason = Handoff.Reason.LLM_FAILURE
        detail = f"ConversationRelay failed: {_field(request, 'ErrorCode')} {_field(request, 'ErrorMessage', 1000)}"
    else:
        return _twiml(twiml.hang_up())
    if call_sid:  # without it the caller still reaches a person, the desk just has no packet
        voice.route_call_to_human(call_sid=call_sid, reason=reason, detail=detail.strip())
    return _twiml(twiml.route_to_human(say=person_coming("voice")))


@csrf_exempt
@require_POST
@twilio_webhook
def sms_incoming(request: HttpRequest) -> HttpResponse:
    fields = _required(request, "MessageSid", "From")
    if isinstance(fields, HttpResponse):
        return fields
    try:
        num_media = int(request.POST.get("NumMedia") or 0)
    except ValueError:
        num_media = 0
    try:
        sms.receive_sms(  # cleans the Body itself: it must store whatever the body holds
            message_sid=fields["MessageSid"],
            from_number=fields["From"],
            to_number=_field(request, "To", 32),
            body=request.POST.get("Body", ""),
            num_media=num_media,
        )
    except InvalidAddress as exc:
        return HttpResponseBadRequest(f"cannot answer this sender: {exc}", content_type="text/plain")
    return _twiml(twiml.no_sms_reply())


@csrf_exempt
@require_POST
@twilio_webhook
def sms_status(request: HttpRequest) -> HttpResponse:
    fields = _required(request, "MessageSid", "MessageStatus")
    if isinstance(fields, HttpResponse):
        return fields
    sms.record_sms_status(
        message_sid=fields["MessageSid"],
        status=fields["MessageStatus"],
        error_code=_field(request, "ErrorCode", 16),
        error_message=_field(request, "ErrorMessage", 1000),
    )
    return HttpResponse(status=204)
