"""Fixtures for the builder tests: a fixed clock, inquiries, the pyx12 map folder."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from cptverify.inquiry import Inquiry
from tests.builder.x279a1 import prepare_map_dir
from tests.conftest import shared_path

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2026, 12, 3)
NOW = datetime(2026, 12, 3, 14, 30, 5)


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def make_inquiry(data: dict[str, Any], today: date = TODAY) -> Inquiry:
    return Inquiry.model_validate(data, context={"today": today})


@pytest.fixture(scope="session")
def x279a1_map_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_map = shared_path("x12-maps", "270.5010.X279.A1.xml")
    return prepare_map_dir(shared_map, tmp_path_factory.mktemp("pyx12"))
