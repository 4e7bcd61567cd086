"""One embedded stack per test module, a plan book with canary members, and captured logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from cptverify_local.simulator.planbook import Member, PlanBook, load_plan_book
from cptverify_local.stack.embedded import LocalStack, embedded_stack
from cptverify_local.stack.parts import PLAN_BOOK

CANARIES = ("CANARYLAST", "CANARYFIRST", "CANARYMEMBER", "19010203", "1901-02-03")
DOWN_PAYER = "SUMMIT"
TODAY = datetime.now(UTC).date()
DOS = (TODAY + timedelta(days=1)).isoformat()


def canary_plan_book() -> PlanBook:
    """The default plan book, plus canary members at ACME and FLAKY, and SUMMIT down for good."""
    book = load_plan_book(PLAN_BOOK).model_copy(deep=True)
    canary = {
        "member_id": "CANARYMEMBER123",
        "first_name": "CANARYFIRST",
        "last_name": "CANARYLAST",
        "birth_date": "1901-02-03",
        "gender": "F",
    }
    book.payers["ACME"].members.append(Member.model_validate({**canary, "plan": "GOLD"}))
    flaky = book.payers["FLAKY"]
    flaky.members.append(Member.model_validate({**canary, "plan": next(iter(flaky.plans))}))
    down = book.payers[DOWN_PAYER]
    down.members.append(Member.model_validate({**canary, "plan": next(iter(down.plans))}))
    down.faults.down_first_requests = 1_000_000
    return book


class LogCapture:
    """Every formatted service log line and every library record, as text."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture(scope="module")
def captured_logs() -> Iterator[LogCapture]:
    from cptverify.observability import logger

    capture = LogCapture()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.stream
    handler.setStream(capture.stream)
    root_handler = logging.StreamHandler(capture.stream)
    root_handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(root_handler)
    try:
        yield capture
    finally:
        logging.getLogger().removeHandler(root_handler)
        handler.setStream(previous)


@pytest.fixture(scope="module")
def book() -> PlanBook:
    return canary_plan_book()


@pytest.fixture(scope="module")
def local_stack(book: PlanBook, captured_logs: LogCapture) -> Iterator[LocalStack]:
    with embedded_stack(book) as stack:
        yield stack
