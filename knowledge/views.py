"""The knowledge search API (DESIGN.md "Knowledge"): the memory API's tokens and conventions."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from conversations.api_tokens import api_token_required
from conversations.models import UseCase
from infra.json_api import BadRequest, bad_request, int_field, json_body, text_field
from infra.text import QUERY_MAX_CHARS

from . import selectors

MAX_K = 50


def _scope(slug: object) -> selectors.Scope | None:
    if slug is None:
        return None
    if not isinstance(slug, str) or not slug.strip():
        raise BadRequest("use_case must be a use case's slug")
    use_case = UseCase.objects.filter(slug=slug.strip()).first()
    if use_case is None:
        raise BadRequest(
            f"no use case {slug.strip()[:80]!r}: give the slug of a use case (see the admin), or leave use_case out"
        )
    return selectors.scope_for(use_case.pk)


@csrf_exempt
@require_POST
@api_token_required
def search(request: HttpRequest) -> JsonResponse:
    """`POST /api/knowledge/search`: the passages that best answer the query, best first."""
    try:
        body = json_body(request)
        query = text_field(body.get("query"), limit=QUERY_MAX_CHARS, what="query")
        k = int_field(body.get("k", 5), low=1, high=MAX_K, what="k")
        scope = _scope(body.get("use_case"))
    except BadRequest as exc:
        return bad_request(exc)
    found = selectors.search(query, k=k, scope=scope)
    return JsonResponse(
        {
            "passages": [
                {
                    "id": p.id,
                    "text": p.text,
                    "section": p.section,
                    "score": p.score,
                    "document": {
                        "id": p.document_id,
                        "external_id": p.external_id,
                        "title": p.title,
                        "url": p.url,
                    },
                }
                for p in found
            ]
        }
    )
