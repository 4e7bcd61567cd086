"""The whole tree stays linted, formatted and typed, and the layer stays free of local code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "cptverify" / "cptverify"
TYPED_TREES = ["layers/cptverify/cptverify", "local/cptverify_local", "functions", "tests", "bench"]

# What the Lambda layer must never import: the terminal UI, the CLI and everything local-only.
FORBIDDEN_IN_LAYER = ("rich", "cptverify_local", "moto", "pytest", "hypothesis")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_settled() -> None:
    result = _run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_passes_on_the_whole_tree() -> None:
    result = _run("mypy", *TYPED_TREES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_layer_imports_nothing_local() -> None:
    offenders = []
    for path in sorted(LAYER.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in FORBIDDEN_IN_LAYER:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)
