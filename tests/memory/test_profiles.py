"""The profile kept up turn by turn (memory/services/profiles.py) against the one rebuilt from every observation."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation
from memory import services
from memory.extraction import Candidate
from memory.models import CustomerProfile
from memory.services import profiles
from tests.memory.builders import conversation_with, customer

pytestmark = pytest.mark.django_db

# Few values, so that statements repeat (merged), traits change (superseded) and lists fill past their limit.
STATEMENTS = [
    ("fact", "", ""),
    ("preference", "", ""),
    ("issue", "", ""),
    ("intent", "", ""),
    ("commitment", "", ""),
    ("sentiment", "", ""),
    ("fact", "name", "Ana Lima"),
    ("fact", "name", "Bea Souza"),
    ("fact", "email", "ana@example.com"),
    ("fact", "email", "bea@example.com"),
    ("fact", "address", "12 Oak Street, Springfield 62704"),
    ("fact", "address", "99 Pine Avenue, Portland 97201"),
    ("fact", "zip", "62704"),
    ("fact", "order", "W1000001"),
    ("fact", "order", "W1000002"),
    ("fact", "order", "W1000003"),
    ("fact", "loyalty", "gold"),
]
TOPICS = ["the blender", "the kettle", "a refund", "weekend delivery", "the invoice", "gift cards", "the lid"]


def _candidate(rng: random.Random) -> Candidate:
    kind, trait, value = rng.choice(STATEMENTS)
    text = f"{trait.title()}: {value}" if trait else f"A {kind} about {rng.choice(TOPICS)}."
    at = timezone.now() - timedelta(days=rng.uniform(0, 100))  # out of order, as imports arrive
    return Candidate(text, kind, rng.uniform(0.5, 1.0), at, [f"m-{rng.randrange(1000)}"], trait, value)


def _profile(customer_id) -> tuple[dict, str]:
    return tuple(CustomerProfile.objects.values_list("traits", "summary").get(customer_id=customer_id))


@pytest.mark.parametrize("seed", range(6))
def test_the_profile_kept_up_by_each_recording_equals_the_one_rebuilt_from_every_observation(seed):
    rng = random.Random(seed)
    who = customer(rng.choice(["", "Ana Lima"]))
    for _ in range(40):
        step = rng.random()
        if step < 0.1:
            # A new conversation: its first extraction counts it, with nothing to say.
            talk = Conversation.objects.create(customer=who, channel=rng.choice(["webchat", "sms", "email"]))
            services.extract_observations(conversation_id=talk.id)
        else:
            if step < 0.2:  # the display name changes; the next recording's reconcile picks it up
                who.display_name = rng.choice(["", "Ana Lima", "Cy Park"])
                who.save(update_fields=["display_name"])
            services.record_observations(
                customer_id=who.id, candidates=[_candidate(rng) for _ in range(rng.randint(1, 3))]
            )
        kept = _profile(who.id)
        profiles.reconcile_profile(customer_id=who.id)  # from every active observation
        assert _profile(who.id) == kept


def test_a_recording_the_profile_does_not_list_reads_no_observations(django_assert_max_num_queries):
    ana = customer("Ana")
    services.extract_observations(conversation_id=conversation_with(ana, "My kettle arrived broken.").id)
    before = _profile(ana.id)
    fact = Candidate("The customer lives near the coast.", "fact", 0.6, timezone.now(), ["m-9"])
    # The lock, the duplicate lookup, the insert, and one read for the profile: unchanged, not written.
    with django_assert_max_num_queries(4):
        services.record_observations(customer_id=ana.id, candidates=[fact])
    assert _profile(ana.id) == before


@pytest.mark.parametrize("renamed", ["Ana Maria", ""])
def test_a_recording_the_profile_does_not_list_still_shows_a_changed_display_name(renamed):
    ana = customer("Ana")
    services.extract_observations(conversation_id=conversation_with(ana, "My kettle arrived broken.").id)
    ana.display_name = renamed
    ana.save(update_fields=["display_name"])
    fact = Candidate("The customer lives near the coast.", "fact", 0.6, timezone.now(), ["m-9"])
    services.record_observations(customer_id=ana.id, candidates=[fact])
    assert _profile(ana.id)[0].get("name") == (renamed or None)


def test_an_observation_edited_or_deleted_in_the_admin_shows_in_the_profile_at_once(client):
    from django.contrib.auth.models import User

    from memory.models import Observation

    ana = customer("Ana")
    services.extract_observations(
        conversation_id=conversation_with(ana, "I prefer email updates. My blender is broken.").id
    )
    assert CustomerProfile.objects.get(customer=ana).traits["preferences"]
    preference = Observation.objects.get(customer=ana, kind=Observation.Kind.PREFERENCE)
    User.objects.create_superuser("root", "root@example.com", "pw")
    client.login(username="root", password="pw")

    response = client.post(f"/admin/memory/observation/{preference.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert CustomerProfile.objects.get(customer=ana).traits.get("preferences", []) == []
