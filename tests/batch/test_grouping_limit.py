"""A visit of many rows whose procedures pass what one inquiry takes goes on in another."""

from __future__ import annotations

import io

from cptverify.inquiry import MAX_PROCEDURES, Inquiry
from cptverify.schedules.columns import RawRow, iter_rows, text_stream
from cptverify.schedules.grouping import Grouper
from cptverify.schedules.rows import validate_row
from tests.batch.schedule_data import row, schedule

CODES = ["99213", "97110", "97140", "97530", "99214"]


def test_a_visit_of_more_than_99_procedures_is_planned_as_two_inquiries() -> None:
    # GIVEN three rows of one visit with 40 procedures each (120 in all)
    procedures = ";".join(CODES[i % len(CODES)] for i in range(40))
    data = schedule(*(row(f"A{n}", claim="C1", procedures=procedures) for n in range(3)))
    grouper = Grouper("b1")

    # WHEN they are grouped
    for raw in iter_rows(text_stream(io.BytesIO(data))):
        if isinstance(raw, RawRow):
            grouper.add(validate_row(raw))

    # THEN the third row starts a second inquiry with its own identity; claim lines run on
    planned = list(grouper.inquiries.values())
    assert [len(p.lines) for p in planned] == [80, 40]
    assert planned[0].identity != planned[1].identity
    assert [ln.line for ln in planned[1].lines] == list(range(81, 121))
    for one in planned:
        body = one.inquiry_body()
        assert len(body["procedures"]) <= MAX_PROCEDURES
        Inquiry.model_validate(body)
