"""The demo seed: staff users, the offline LLM provider, the store's use cases, data and articles. Idempotent."""

import secrets
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.db import transaction

from conversations.models import LLMProvider, UseCase
from demostore.services import load_seed_data
from handoff.defaults import seed_handoff_defaults
from infra.permissions import AGENTS, SUPERVISORS
from knowledge.services import import_knowledge

from .config import BATON_DIR, kept_secret
from .seed_actions import seed_actions

# The store's help-center articles (shipping, returns, refunds, ...): what the AI answers from.
DEMO_ARTICLES = Path(__file__).resolve().parent / "demo_knowledge"

STORE_POLICY = (
    "Verify the customer before touching an account: their email, or their first name, last name and zip code. "
    "Act only on the verified customer's own orders and account, one order per action. "
    "Before any change, state exactly what will change and wait for an explicit yes. "
    "Refunds go to the original payment method or to an existing gift card. "
    "Transfer to a person when the request is outside this policy or the customer asks for one."
)

USE_CASES = [
    {
        "slug": "general",
        "name": "General questions",
        "is_default": True,
        "description": "Anything about the store: orders, returns, exchanges, addresses, opening hours.",
        # Behaviour only: what the store does and how (hours, refunds, shipping) is in its articles.
        "instructions": (
            "Answer questions about the store from its help articles and cite them; help with orders, "
            "returns, exchanges and addresses. " + STORE_POLICY
        ),
        "resolution_definition": "The customer's question is answered or their request is completed.",
        "greeting": "Hi! I'm the store's assistant. How can I help today?",
    },
    {
        "slug": "order-status",
        "name": "Order status",
        "description": "Where is my order, has it shipped, tracking number, delivery status.",
        "instructions": "Tell the verified customer the status, items and tracking of their order. "
        + STORE_POLICY,
        "resolution_definition": "The customer knows where their order is.",
    },
    {
        "slug": "cancel-order",
        "name": "Cancel a pending order",
        "description": "Cancel an order that has not shipped yet.",
        "instructions": (
            "Only pending orders can be cancelled. The reason must be 'no longer needed' or 'ordered by mistake'. "
            + STORE_POLICY
        ),
        "resolution_definition": "The pending order is cancelled and the refund explained.",
    },
    {
        "slug": "return-items",
        "name": "Return delivered items",
        "description": "Return items from a delivered order for a refund.",
        "instructions": "Only delivered orders can be returned. " + STORE_POLICY,
        "resolution_definition": "The return is requested with the refund method the customer chose.",
    },
    {
        "slug": "exchange-items",
        "name": "Exchange delivered items",
        "description": "Exchange delivered items for another option of the same product.",
        "instructions": (
            "Only delivered orders can be exchanged, for an available variant of the same product. "
            + STORE_POLICY
        ),
        "resolution_definition": "The exchange is requested.",
    },
    {
        "slug": "order-address",
        "name": "Change a pending order's address",
        "description": "Change where a pending order ships.",
        "instructions": "Only pending orders can have their shipping address changed. " + STORE_POLICY,
        "resolution_definition": "The pending order ships to the new address.",
    },
    {
        "slug": "account-address",
        "name": "Update the account address",
        "description": "Change the default address on the customer's account.",
        "instructions": "Update the verified customer's default address. " + STORE_POLICY,
        "resolution_definition": "The account shows the new default address.",
    },
]


def demo_password() -> tuple[str, bool]:
    """The seeded users' password and whether it came from BATON_DEMO_PASSWORD."""
    import os

    if os.environ.get("BATON_DEMO_PASSWORD"):
        return os.environ["BATON_DEMO_PASSWORD"], True
    return kept_secret("demo_password", "BATON_DEMO_PASSWORD", 9), False


def seed_users(password: str) -> list[str]:
    agents, _ = Group.objects.get_or_create(name=AGENTS)
    supervisors, _ = Group.objects.get_or_create(name=SUPERVISORS)
    created = []
    specs = [
        ("admin", {"is_staff": True, "is_superuser": True, "first_name": "Ada", "last_name": "Admin"}, []),
        ("agent", {"first_name": "Alex", "last_name": "Agent"}, [agents]),
        (
            "supervisor",
            {"is_staff": True, "first_name": "Sam", "last_name": "Supervisor"},
            [agents, supervisors],
        ),
    ]
    for username, fields, groups in specs:
        user, was_created = User.objects.get_or_create(username=username, defaults=fields)
        if was_created:
            user.set_password(password)  # only on creation: a changed password is never reset
            user.save()
            created.append(username)
        user.groups.add(*groups)
    return created


@transaction.atomic
def seed_demo() -> dict:
    """Create everything the demo needs; running it again changes nothing."""
    password, _ = demo_password()
    created_users = seed_users(password)
    offline, _ = LLMProvider.objects.get_or_create(
        name="offline", defaults={"kind": LLMProvider.Kind.OFFLINE, "model": "baton-offline-1"}
    )
    for spec in USE_CASES:
        UseCase.objects.get_or_create(slug=spec["slug"], defaults={**spec, "llm_provider": offline})
    created_actions = seed_actions()
    store = load_seed_data()
    handoff = seed_handoff_defaults(members=list(User.objects.filter(username__in=["agent", "supervisor"])))
    articles = import_knowledge(DEMO_ARTICLES)
    return {
        "created_users": created_users,
        "created_actions": created_actions,
        "store": store,
        "handoff": handoff,
        "articles": articles.added + articles.updated,
    }


def new_api_secret() -> str:
    return secrets.token_urlsafe(32)


__all__ = ["BATON_DIR", "seed_demo", "demo_password"]
