"""The layer contracts (pyproject.toml, run by `make lint`) really catch an import that runs upward."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "infra",
    "conversations",
    "memory",
    "knowledge",
    "handoff",
    "orchestration",
    "insights",
    "deskapp",
    "demostore",
]


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_upward_import_breaks_the_layer_contract(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint_imports(tmp_path).returncode == 0, "the tree as it is keeps every contract"
    rollout = tmp_path / "conversations" / "rollout.py"
    rollout.write_text(rollout.read_text() + "\nfrom handoff.models import Handoff  # noqa: E402,F401\n")
    broken = lint_imports(tmp_path)
    assert broken.returncode == 1
    assert "conversations is not allowed to import handoff" in broken.stdout


def test_knowledge_and_memory_are_independent(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    selectors = tmp_path / "knowledge" / "selectors.py"
    selectors.write_text(
        selectors.read_text() + "\nfrom memory.models import Observation  # noqa: E402,F401\n"
    )
    broken = lint_imports(tmp_path)
    assert broken.returncode == 1
    assert "knowledge is not allowed to import memory" in broken.stdout
