"""Builders for staff users (agents, supervisors) and their queues."""

from django.contrib.auth.models import Group, User

from handoff.defaults import seed_handoff_defaults
from infra.permissions import AGENTS, SUPERVISORS


def make_staff(username: str, *, supervisor: bool = False, first_name: str = "", queue: bool = True) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, first_name=first_name)
    user.groups.add(Group.objects.get_or_create(name=AGENTS)[0])
    if supervisor:
        user.groups.add(Group.objects.get_or_create(name=SUPERVISORS)[0])
    if queue:
        seed_handoff_defaults(members=[user])
    return user
