"""The Recall API (DESIGN.md "Memory"): Bearer-token JSON endpoints; parse, call a selector or service, answer."""

import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from conversations.api_tokens import api_token_required
from conversations.identity import InvalidAddress, normalize_address
from conversations.models import Customer, Identity
from conversations.services import resolve_customer
from infra.json_api import BadRequest, bad_request, int_field, json_body, text_field
from infra.text import OBSERVATION_MAX_CHARS, QUERY_MAX_CHARS, is_clean

from . import selectors, services
from .extraction import KINDS

MAX_K = 50
MAX_OBSERVATIONS_PER_REQUEST = 100


def _customer(body: dict[str, Any], *, create: bool = False) -> Customer | None:
    """The customer named by `customer_id` or `identity`; None when unknown (or created, when `create`)."""
    if body.get("customer_id") is not None:
        try:
            customer_id = uuid.UUID(str(body["customer_id"]))
        except ValueError:
            raise BadRequest("customer_id must be a UUID") from None
        return Customer.objects.filter(id=customer_id).first()
    identity = body.get("identity")
    if not isinstance(identity, dict):
        raise BadRequest('give "customer_id" or "identity": {"channel", "address"}')
    channel, address = identity.get("channel"), identity.get("address")
    if channel not in Identity.Channel.values or not isinstance(address, str):
        raise BadRequest(
            f"identity.channel must be one of {', '.join(Identity.Channel.values)} with an address"
        )
    if not is_clean(address):
        raise BadRequest("identity.address must not contain control characters")
    try:
        normalize_address(channel, address)
    except InvalidAddress as exc:
        raise BadRequest(str(exc)) from None
    if create:
        return resolve_customer(identities=[(channel, address)])
    return selectors.customer_for_identity(channel=channel, address=address)


def _observation_json(o: selectors.RecalledObservation) -> dict[str, Any]:
    return {
        "id": o.id,
        "text": o.text,
        "kind": o.kind,
        "score": o.score,
        "created_at": o.created_at.isoformat(),
        "source": {
            "conversation_id": str(o.conversation_id) if o.conversation_id else None,
            "message_external_ids": o.message_external_ids,
        },
    }


@csrf_exempt
@require_POST
@api_token_required
def recall(request: HttpRequest) -> JsonResponse:
    """`POST /api/memory/recall`: the customer's observations most relevant to the query, and the profile."""
    try:
        body = json_body(request)
        query, k = body.get("query"), body.get("k", 10)
        query = text_field(query, limit=QUERY_MAX_CHARS, what="query")
        k = int_field(k, low=1, high=MAX_K, what="k")
        customer = _customer(body)
    except BadRequest as exc:
        return bad_request(exc)
    if customer is None:
        return JsonResponse({"error": "not_found", "detail": "no such customer"}, status=404)
    recalled = selectors.recall(customer_id=customer.id, query=query, k=k)
    return JsonResponse(
        {
            "customer_id": str(customer.id),
            "observations": [_observation_json(o) for o in recalled],
            "profile": selectors.profile_for(customer_id=customer.id),
        }
    )


def _observation_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("observations")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_OBSERVATIONS_PER_REQUEST:
        raise BadRequest(f'"observations" must be a list of 1 to {MAX_OBSERVATIONS_PER_REQUEST} objects')
    clean = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise BadRequest(f"observation {n} must be an object")
        text, kind = item.get("text"), item.get("kind", "fact")
        confidence = item.get("confidence", 0.8)
        ids = (
            (item.get("source") or {}).get("message_external_ids", [])
            if isinstance(item.get("source"), dict)
            else []
        )
        text = text_field(text, limit=OBSERVATION_MAX_CHARS, what=f"observation {n}: text")
        if kind not in KINDS:
            raise BadRequest(f"observation {n}: kind must be one of {', '.join(KINDS)}")
        if (
            not isinstance(confidence, int | float)
            or isinstance(confidence, bool)
            or not 0 <= confidence <= 1
        ):
            raise BadRequest(f"observation {n}: confidence must be a number from 0 to 1")
        if not isinstance(ids, list) or not all(
            isinstance(i, str) and 0 < len(i) <= 200 and is_clean(i) for i in ids
        ):
            raise BadRequest(
                f"observation {n}: source.message_external_ids must be a list of strings "
                "of 1 to 200 characters, without control characters"
            )
        clean.append(
            {"text": text, "kind": kind, "confidence": float(confidence), "message_external_ids": ids}
        )
    return clean


@csrf_exempt
@require_POST
@api_token_required
def add_observations(request: HttpRequest) -> JsonResponse:
    """`POST /api/memory/observations`: store observations about a customer (duplicates are merged)."""
    try:
        body = json_body(request)
        items = _observation_items(body)
        customer = _customer(body, create=True)
    except BadRequest as exc:
        return bad_request(exc)
    if customer is None:
        return JsonResponse({"error": "not_found", "detail": "no such customer"}, status=404)
    stored = services.add_observations(customer_id=customer.id, items=items)
    return JsonResponse(
        {
            "customer_id": str(customer.id),
            "observations": [
                {"id": o.id, "text": o.text, "kind": o.kind, "created_at": o.created_at.isoformat()}
                for o in stored
            ],
        },
        status=201,
    )
