"""Python actions used by the tests (an admin points an Action's python_path at functions like these)."""

from conversations.actions.executor import ActionRejected


def loyalty_points(*, user_id: str) -> dict:
    if user_id == "blocked":
        raise ActionRejected("this account has no loyalty programme")
    return {"user_id": user_id, "points": len(user_id) * 10}
