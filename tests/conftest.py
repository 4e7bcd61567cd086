"""Shared fixtures. `shared_dir` points at ../shared (cases, maps, bench inputs) or skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_ROOT.parent / "shared"

# No test may reach real AWS: fake credentials and a fixed region before boto3 is used.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "cptverify-test")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "cptverify")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the calling test with the reason."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only beside CI and developer checkouts)")
    return path


@pytest.fixture
def shared_dir() -> Path:
    return shared_path()


@pytest.fixture
def cases_dir() -> Path:
    return shared_path("cases")
