"""The customer profile: traits and a short summary, rebuilt from the active observations."""

import json
import uuid
from datetime import datetime

from django.db import connection

from conversations.models import Customer

from ..extraction import SINGLE_VALUED_TRAITS
from ..models import CustomerProfile, Observation

PROFILE_LIST_LIMIT = 5
# The kinds of trait-less observations the profile lists (the others only feed recall).
_LISTED_KINDS = {
    "preferences": Observation.Kind.PREFERENCE,
    "issues": Observation.Kind.ISSUE,
    "commitments": Observation.Kind.COMMITMENT,
}


def shapes_profile(*, trait: str, kind: str) -> bool:
    """Whether an active observation with this trait and kind can change the profile's traits."""
    if trait:
        return trait in SINGLE_VALUED_TRAITS or trait == "order"
    return kind in _LISTED_KINDS.values()


# Raw SQL: it runs on every recording; compiling it with the ORM cost several times the statement.
_INPUTS_SQL = """
SELECT cu.display_name, cu.created_at,
       ARRAY(SELECT channel FROM conversations_conversation WHERE customer_id = cu.id),
       p.traits, p.summary
FROM conversations_customer cu
LEFT JOIN memory_customerprofile p ON p.customer_id = cu.id
WHERE cu.id = %s
"""


def reconcile_profile(*, customer_id: uuid.UUID, observations_changed: bool = True) -> None:
    """Bring the customer's profile (traits and a short summary) up to date.

    With `observations_changed=False` the caller states that no observation that `shapes_profile` was
    added, superseded or removed since the profile was last reconciled: the traits the observations
    give are kept, and only what comes from the customer and their conversations is read again.
    """
    with connection.cursor() as cursor:
        cursor.execute(_INPUTS_SQL, [customer_id])
        found = cursor.fetchone()
    if found is None:
        raise Customer.DoesNotExist(f"no customer {customer_id}")
    display_name, created_at, channels, stored_json, stored_summary = found
    stored_traits = json.loads(stored_json) if stored_json is not None else None
    stored_name = (stored_traits or {}).get("name")
    # A stored name that is not the display name came from an observation or from an older display
    # name: only the observations tell which, so they are read again.
    if observations_changed or stored_traits is None or stored_name not in (None, display_name):
        traits = _traits_from_observations(customer_id)
    else:
        # A kept name equals the display name, which the full rebuild would give too.
        traits = {k: v for k, v in stored_traits.items() if k not in ("conversations", "channels")}
    traits["conversations"] = len(channels)  # one read for both
    traits["channels"] = sorted(set(channels))
    if display_name and "name" not in traits:
        traits["name"] = display_name
    summary = _summary(traits, created_at)
    if traits == stored_traits and summary == stored_summary:
        return
    CustomerProfile.objects.bulk_create(
        [CustomerProfile(customer_id=customer_id, traits=traits, summary=summary)],
        update_conflicts=True,
        unique_fields=["customer"],
        update_fields=["traits", "summary", "updated_at"],
    )


def _traits_from_observations(customer_id: uuid.UUID) -> dict:
    active = list(
        Observation.objects.filter(customer_id=customer_id, superseded_by__isnull=True)
        .exclude(trait="", kind=Observation.Kind.FACT)
        .order_by("-created_at", "-id")
        .values_list("trait", "trait_value", "kind", "text")
    )
    traits: dict = {}
    for trait, value, _, _ in reversed(active):  # oldest first, so the newest value of each trait wins
        if trait in SINGLE_VALUED_TRAITS:
            traits[trait] = value
    orders = list(dict.fromkeys(value for trait, value, _, _ in active if trait == "order"))
    if orders:
        traits["last_order"] = orders[0]
        traits["orders"] = orders[:PROFILE_LIST_LIMIT]
    for key, listed in _LISTED_KINDS.items():
        texts = [text for trait, _, kind, text in active if kind == listed and not trait][:PROFILE_LIST_LIMIT]
        if texts:
            traits[key] = texts
    return traits


def _summary(traits: dict, customer_since: datetime) -> str:
    parts = [traits.get("name") or "Customer"]
    parts.append(f"customer since {customer_since:%b %Y}")
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
