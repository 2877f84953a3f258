"""The Twilio REST client, pointed at `settings.TWILIO_API_BASE_URL` (Twilio's own, or a loopback fake in tests)."""

from django.conf import settings
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

TWILIO_API_ORIGIN = "https://api.twilio.com"


class BaseUrlHttpClient(TwilioHttpClient):
    """Sends what the library addresses to api.twilio.com to another origin, path and auth unchanged."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO_API_ORIGIN):
            url = self.base_url + url[len(TWILIO_API_ORIGIN) :]
        return super().request(method, url, *args, **kwargs)


class TwilioNotConfigured(RuntimeError):
    pass


def twilio_client() -> Client:
    """A REST client for the configured account; raises TwilioNotConfigured with how to fix it."""
    if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
        raise TwilioNotConfigured(
            "set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (environment or .env) to send SMS through Twilio"
        )
    return Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=BaseUrlHttpClient(settings.TWILIO_API_BASE_URL),
    )
