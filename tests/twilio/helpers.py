"""Talking to Baton as Twilio does: form posts and websocket handshakes signed with the real RequestValidator."""

from urllib.parse import urlencode

from django.conf import settings
from django.test import Client
from twilio.request_validator import RequestValidator


def sign(url: str, params: dict[str, str], token: str | None = None) -> str:
    return RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)


def twilio_post(
    path: str, params: dict[str, str], *, signature: str | None = None, client: Client | None = None
):
    """POST `params` form-encoded to `path`, signed for the public URL Twilio would have called."""
    url = settings.BATON_PUBLIC_URL + path
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature if signature is not None else sign(url, params)}
    return (client or Client()).post(
        path, urlencode(params), content_type="application/x-www-form-urlencoded", **headers
    )


def sms_params(sid: str, body: str, sender: str = "+14155550100", to: str = "+18885550123") -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": settings.TWILIO_ACCOUNT_SID,
        "MessagingServiceSid": "",
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "FromCountry": "US",
        "ApiVersion": "2010-04-01",
    }
