"""The customer profile: traits and a short summary, rebuilt from the active observations."""

import uuid

from conversations.models import Conversation, Customer

from ..extraction import SINGLE_VALUED_TRAITS
from ..models import CustomerProfile, Observation

PROFILE_LIST_LIMIT = 5


def reconcile_profile(*, customer_id: uuid.UUID) -> CustomerProfile:
    """Rebuild the customer's profile (traits and a short summary) from their active observations."""
    active = list(
        Observation.objects.filter(customer_id=customer_id, superseded_by__isnull=True)
        .exclude(trait="", kind=Observation.Kind.FACT)
        .order_by("-created_at", "-id")
    )
    traits: dict = {}
    for o in reversed(active):  # oldest first, so the newest value of each trait wins
        if o.trait in SINGLE_VALUED_TRAITS:
            traits[o.trait] = o.trait_value
    orders = list(dict.fromkeys(o.trait_value for o in active if o.trait == "order"))
    if orders:
        traits["last_order"] = orders[0]
        traits["orders"] = orders[:PROFILE_LIST_LIMIT]
    for key, kind in (
        ("preferences", Observation.Kind.PREFERENCE),
        ("issues", Observation.Kind.ISSUE),
        ("commitments", Observation.Kind.COMMITMENT),
    ):
        texts = [o.text for o in active if o.kind == kind and not o.trait][:PROFILE_LIST_LIMIT]
        if texts:
            traits[key] = texts
    channels = list(Conversation.objects.filter(customer_id=customer_id).values_list("channel", flat=True))
    traits["conversations"] = len(channels)  # one read for both
    traits["channels"] = sorted(set(channels))
    customer = Customer.objects.get(id=customer_id)
    if customer.display_name and "name" not in traits:
        traits["name"] = customer.display_name
    profile, _ = CustomerProfile.objects.get_or_create(customer_id=customer_id)
    profile.traits = traits
    profile.summary = _summary(traits, customer)
    profile.save()
    return profile


def _summary(traits: dict, customer: Customer) -> str:
    parts = [traits.get("name") or "Customer"]
    parts.append(f"customer since {customer.created_at:%b %Y}")
    if traits.get("conversations"):
        parts.append(f"{traits['conversations']} conversation(s) over {', '.join(traits['channels'])}")
    if traits.get("last_order"):
        parts.append(f"last order {traits['last_order']}")
    if traits.get("address"):
        parts.append(f"address {traits['address']}")
    if traits.get("issues"):
        parts.append(f"latest issue: {traits['issues'][0]}")
    if traits.get("preferences"):
        parts.append(f"prefers: {traits['preferences'][0]}")
    return "; ".join(parts)[:1000] + "."
