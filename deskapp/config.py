"""Reads configuration from the environment and an optional `.env` file; keeps generated secrets under `.baton/`."""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BATON_DIR = Path(os.environ.get("BATON_DATA_DIR", BASE_DIR / ".baton"))


def load_dotenv(path: Path = BASE_DIR / ".env") -> None:
    """Copy KEY=VALUE lines of `.env` into the environment; real environment variables win."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


def kept_secret(name: str, env_var: str, nbytes: int = 32) -> str:
    """The value of `env_var`, else a random secret generated once and kept in `.baton/<name>`."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    path = BATON_DIR / name
    if path.exists():
        return path.read_text().strip()
    BATON_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    path.write_text(value)
    path.chmod(0o600)
    return value
