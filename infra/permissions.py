"""Staff roles: Django groups `agents` and `supervisors`; admins are superusers or staff."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

AGENTS = "agents"
SUPERVISORS = "supervisors"


def in_group(user: AbstractBaseUser | AnonymousUser, name: str) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=name).exists()


def is_agent(user) -> bool:
    return in_group(user, AGENTS) or in_group(user, SUPERVISORS)


def is_supervisor(user) -> bool:
    return in_group(user, SUPERVISORS)
