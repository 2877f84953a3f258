import json
import uuid

from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from conversations import services
from conversations.identity import InvalidAddress
from infra.text import ADDRESS_MAX_CHARS, NAME_MAX_CHARS, checked_text

from .tokens import issue_chat_token


def error_response(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status)


# The longest each may be once cleaned: what its column holds.
_SESSION_FIELD_LIMITS = {"name": NAME_MAX_CHARS, "email": ADDRESS_MAX_CHARS, "phone": 64, "use_case": 80}


def _optional_string(body: dict, key: str) -> str:
    value, limit = body.get(key) or "", _SESSION_FIELD_LIMITS[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string of at most {limit} characters")
    return checked_text(value, limit=limit, what=key)


@csrf_exempt  # a public API for the widget; the token it returns is what authorises the socket
@require_POST
def create_chat_session(request: HttpRequest) -> JsonResponse:
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        fields = {key: _optional_string(body, key) for key in _SESSION_FIELD_LIMITS}
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return error_response(400, "invalid_json", 'send a JSON object such as {"name": "Ada"}')
    except ValueError as exc:
        return error_response(400, "invalid_field", str(exc))
    visitor_id = f"v_{uuid.uuid4().hex}"
    try:
        conversation = services.start_chat_session(
            visitor_id=visitor_id,
            name=fields["name"],
            email=fields["email"],
            phone=fields["phone"],
            use_case_slug=fields["use_case"],
        )
    except InvalidAddress as exc:
        return error_response(400, "invalid_address", str(exc))
    except ValueError as exc:
        return error_response(400, "unknown_use_case", str(exc))
    token = issue_chat_token(
        conversation_id=conversation.id, customer_id=conversation.customer_id, visitor_id=visitor_id
    )
    scheme = "wss" if request.is_secure() else "ws"
    return JsonResponse(
        {
            "conversation_id": str(conversation.id),
            "customer_id": str(conversation.customer_id),
            "token": token,
            "ws_url": f"{scheme}://{request.get_host()}/ws/chat/?token={token}",
        },
        status=201,
    )


@require_GET
def chat_page(request: HttpRequest):
    return render(request, "conversations/chat.html")
