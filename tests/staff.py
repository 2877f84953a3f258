"""Builders for staff users (agents, supervisors) and their queues."""

from django.contrib.auth.models import Group, User

from deskapp.permissions import AGENTS, SUPERVISORS
from handoff.defaults import seed_handoff_defaults


def make_staff(username: str, *, supervisor: bool = False, first_name: str = "", queue: bool = True) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, first_name=first_name)
    user.groups.add(Group.objects.get_or_create(name=AGENTS)[0])
    if supervisor:
        user.groups.add(Group.objects.get_or_create(name=SUPERVISORS)[0])
    if queue:
        seed_handoff_defaults(members=[user])
    return user
