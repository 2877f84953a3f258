import hmac
from functools import wraps

from django.conf import settings
from django.http import JsonResponse


def require_store_token(view):
    """Bearer $DEMOSTORE_API_TOKEN, compared in constant time."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if not token or not hmac.compare_digest(token, settings.DEMOSTORE_API_TOKEN):
            return JsonResponse(
                {"error": "missing or wrong token: send Authorization: Bearer $DEMOSTORE_API_TOKEN"},
                status=401,
            )
        return view(request, *args, **kwargs)

    return wrapper
