"""The agent desk (`/desk/`) and the supervisor board (`/supervisor/`): thin views over handoff services.

Every action checks permission here on the server (role) and again in the service (ownership).
"""

import uuid
from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from conversations.models import Conversation
from infra.permissions import is_agent, is_supervisor
from infra.text import DISPOSITION_MAX_CHARS, MESSAGE_MAX_CHARS, NOTE_MAX_CHARS, checked_text

from . import selectors, services
from .models import CopilotDraft, Handoff

OUTCOME_CHOICES = [
    ("resolved", "Resolved"),
    ("not_resolved", "Not resolved"),
    ("follow_up", "Follow-up needed"),
]


def _role_required(check, what: str):
    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(request.user):
                return HttpResponseForbidden(
                    f"This page is for {what}. Ask an admin to add you to that group."
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


agent_required = _role_required(is_agent, "agents")
supervisor_required = _role_required(is_supervisor, "supervisors")


def _problem(request: HttpRequest, message: str, status: int = 409) -> HttpResponse:
    return render(request, "handoff/_problem.html", {"message": message}, status=status)


def _workspace(request: HttpRequest, conversation_id: uuid.UUID, status: int = 200) -> HttpResponse:
    try:
        conversation, handoff = selectors.conversation_for_agent(request.user, conversation_id)
    except PermissionError:
        return _problem(request, "That conversation isn't in your queues.", 403)
    drafts = CopilotDraft.objects.filter(
        conversation=conversation, status=CopilotDraft.Status.PENDING
    ).order_by("-created_at")[:1]
    context = {
        "conversation": conversation,
        "handoff": handoff,
        "packet": handoff.packet if handoff else {},
        "messages": selectors.transcript(conversation.id),
        "mine": bool(
            handoff and handoff.agent_id == request.user.pk and handoff.status == Handoff.Status.ACCEPTED
        ),
        "draft": drafts[0] if drafts else None,
        "outcomes": OUTCOME_CHOICES,
    }
    return render(request, "handoff/_workspace.html", context, status=status)


# --- desk -----------------------------------------------------------------------------------------


@require_GET
@agent_required
def desk(request: HttpRequest) -> HttpResponse:
    return render(request, "handoff/desk.html", {"open_conversation": request.GET.get("conversation", "")})


@require_GET
@agent_required
def desk_inbox(request: HttpRequest) -> HttpResponse:
    context = {
        "waiting": selectors.waiting_handoffs_for_agent(request.user)[:100],
        "mine": selectors.assigned_handoffs(request.user),
    }
    return render(request, "handoff/_inbox.html", context)


@require_GET
@agent_required
def desk_conversation(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    return _workspace(request, conversation_id)


@require_POST
@agent_required
def accept(request: HttpRequest, handoff_id: int) -> HttpResponse:
    try:
        handoff = services.accept_handoff(handoff_id=handoff_id, agent=request.user)
    except services.HandoffError as exc:
        return _problem(request, f"Couldn't accept: {exc}.")
    return _workspace(request, handoff.conversation_id)


@require_POST
@agent_required
def reply(request: HttpRequest, handoff_id: int) -> HttpResponse:
    draft_id = request.POST.get("draft_id") or None
    try:
        services.send_agent_reply(
            handoff_id=handoff_id,
            agent=request.user,
            text=checked_text(request.POST.get("text", ""), limit=MESSAGE_MAX_CHARS, what="a reply"),
            draft_id=int(draft_id) if draft_id else None,
        )
    except (services.HandoffError, ValueError) as exc:
        return _problem(request, f"Not sent: {exc}.", 400)
    return HttpResponse(status=204)


@require_POST
@agent_required
def ignore_draft(request: HttpRequest, draft_id: int) -> HttpResponse:
    draft = get_object_or_404(CopilotDraft, pk=draft_id)
    try:
        selectors.conversation_for_agent(request.user, draft.conversation_id)
    except PermissionError:
        return _problem(request, "That conversation isn't in your queues.", 403)
    services.ignore_draft(draft_id=draft_id, agent=request.user)
    return HttpResponse(status=204)


@require_POST
@agent_required
def resolve(request: HttpRequest, handoff_id: int) -> HttpResponse:
    outcome = request.POST.get("outcome", "")
    try:
        handoff = services.resolve_handoff(
            handoff_id=handoff_id,
            agent=request.user,
            outcome=outcome,
            disposition=checked_text(
                request.POST.get("disposition", ""), limit=DISPOSITION_MAX_CHARS, what="the closing note"
            ),
        )
    except (services.HandoffError, ValueError) as exc:
        return _problem(request, f"Not resolved: {exc}.", 400)
    return _workspace(request, handoff.conversation_id)


@require_POST
@agent_required
def hand_back(request: HttpRequest, handoff_id: int) -> HttpResponse:
    try:
        handoff = services.hand_back_to_ai(handoff_id=handoff_id, agent=request.user)
    except services.HandoffError as exc:
        return _problem(request, f"Not handed back: {exc}.", 400)
    return _workspace(request, handoff.conversation_id)


@require_POST
@agent_required
def add_note(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    try:
        selectors.conversation_for_agent(request.user, conversation_id)
        services.add_agent_note(
            conversation_id=conversation_id,
            agent=request.user,
            text=checked_text(request.POST.get("text", ""), limit=NOTE_MAX_CHARS, what="a note"),
        )
    except PermissionError:
        return _problem(request, "That conversation isn't in your queues.", 403)
    except ValueError as exc:
        return _problem(request, str(exc), 400)
    return render(
        request, "handoff/_problem.html", {"message": "Note saved to the customer's memory.", "ok": True}
    )


# --- supervisor board -------------------------------------------------------------------------------


@require_GET
@supervisor_required
def board(request: HttpRequest) -> HttpResponse:
    return render(request, "handoff/board.html", {})


@require_GET
@supervisor_required
def board_table(request: HttpRequest) -> HttpResponse:
    return render(request, "handoff/_board.html", selectors.live_board())


@require_GET
@supervisor_required
def watch(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = (
        Conversation.objects.select_related("customer", "use_case").filter(id=conversation_id).first()
    )
    if conversation is None:
        return _problem(request, "No such conversation.", 404)
    context = {
        "conversation": conversation,
        "handoff": selectors.live_handoff(conversation.id),
        "messages": selectors.transcript(conversation.id),
        "signals": selectors.signals_for_conversation(conversation.id),
        "agents": selectors.staff_agents(),
    }
    return render(request, "handoff/watch.html", context)


@require_POST
@supervisor_required
def take_over(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    try:
        handoff = services.take_over(conversation_id=conversation_id, supervisor=request.user)
    except services.HandoffError as exc:
        return _problem(request, f"Couldn't take over: {exc}.")
    response = HttpResponse(status=204)
    response["HX-Redirect"] = f"/desk/?conversation={handoff.conversation_id}"
    return response


@require_POST
@supervisor_required
def reassign(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    handoff = selectors.live_handoff(conversation_id)
    agent = get_user_model().objects.filter(pk=request.POST.get("agent_id") or 0).first()
    if handoff is None or agent is None:
        return _problem(
            request, "Pick an agent; only conversations waiting for or with a person can be reassigned.", 400
        )
    try:
        services.reassign_handoff(handoff_id=handoff.pk, supervisor=request.user, agent=agent)
    except services.HandoffError as exc:
        return _problem(request, f"Not reassigned: {exc}.", 400)
    return render(
        request,
        "handoff/_problem.html",
        {"message": f"Reassigned to {agent.get_full_name() or agent.get_username()}.", "ok": True},
    )
