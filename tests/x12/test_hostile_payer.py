"""A hostile payer against the 271 reader: padding inside composites and repeated elements.

The tokenizer trims whitespace next to element separators; the same padding next to a component
or repetition separator (`1^ 98 ^33`, `HC: 99213 : GP`) hid a service type or a procedure code
from every look-up.
"""

from __future__ import annotations

from cptverify.x12.model import Benefit
from cptverify.x12.reader271 import read_271
from tests.x12.builders import SUBSCRIBER_BODY, make_271

HEAD = SUBSCRIBER_BODY[:11]


def _rows(*ebs: str) -> list[Benefit]:
    ic = read_271(make_271([*HEAD, *ebs]))
    return ic.transactions[0].patients[0].benefits


def test_spaces_around_repetition_separators_are_not_part_of_a_service_type() -> None:
    (row,) = _rows("EB*B*IND*1^ 98 ^\t33*HM**27*10")
    assert row.service_types == ["1", "98", "33"]


def test_a_service_type_of_spaces_only_is_dropped() -> None:
    (row,) = _rows("EB*B*IND*98^  ^33*HM**27*10")
    assert row.service_types == ["98", "33"]


def test_spaces_around_component_separators_are_not_part_of_a_procedure() -> None:
    (row,) = _rows("EB*B*IND*98*HM**27*10*****Y*HC: 99213 : GP :25")
    assert row.procedure is not None
    assert (row.procedure.qualifier, row.procedure.code) == ("HC", "99213")
    assert row.procedure.modifiers == ["GP", "25"]


def test_padded_date_range_is_read() -> None:
    (row,) = _rows("EB*1*IND*30", "DTP*348*RD8*20260101 - 20261231")
    (value,) = row.dates
    assert value.start is not None and value.end is not None
    assert (value.start.isoformat(), value.end.isoformat()) == ("2026-01-01", "2026-12-31")


def test_same_text_without_padding_reads_the_same() -> None:
    padded = _rows("EB*B*IND*1^ 98*HM**27*10*****Y*HC: 99213")
    plain = _rows("EB*B*IND*1^98*HM**27*10*****Y*HC:99213")
    assert padded[0].service_types == plain[0].service_types
    assert padded[0].procedure == plain[0].procedure


# A status row dated outside the date of service (an EB*6 with DTP*307 RD8 for a past month, as
# CMS HETS sends) is history, not a conflict: with active rows for the service date the patient
# is active (C34 was "unknown", so every procedure had no estimate).
SERVICE = [*HEAD[:9], "DTP*472*D8*20090501"]


def _status(*rows: str) -> tuple[str, list[str]]:
    ic = read_271(make_271([*SERVICE, *rows]))
    patient = ic.transactions[0].patients[0]
    return patient.coverage_status, patient.status_notes


def test_inactive_period_before_the_service_date_does_not_conflict() -> None:
    status, notes = _status(
        "EB*1*IND**MB", "DTP*307*D8*19850401", "EB*6", "DTP*307*RD8*20070901-20070930"
    )
    assert status == "active"
    assert any("outside the date of service" in note for note in notes)


def test_active_period_that_ended_before_the_service_date_leaves_the_inactive_row() -> None:
    status, _ = _status("EB*1**30", "DTP*307*RD8*20080101-20081231", "EB*6**30")
    assert status == "inactive"


def test_undated_rows_still_conflict() -> None:
    status, notes = _status("EB*1**30", "EB*6**30")
    assert status == "unknown"
    assert any("both active" in note for note in notes)


def test_period_holding_the_service_date_still_conflicts() -> None:
    status, _ = _status("EB*1**30", "EB*6**30", "DTP*307*RD8*20090101-20091231")
    assert status == "unknown"


def test_without_a_service_date_dated_rows_still_conflict() -> None:
    ic = read_271(make_271([*HEAD, "EB*1**30", "EB*6**30", "DTP*307*RD8*20070901-20070930"]))
    assert ic.transactions[0].patients[0].coverage_status == "unknown"


def test_every_status_row_out_of_date_falls_back_to_all_of_them() -> None:
    status, _ = _status("EB*6**30", "DTP*307*RD8*20070901-20070930")
    assert status == "inactive"


def test_c34_hets_is_active_at_its_service_date() -> None:
    from tests.conftest import shared_path

    path = shared_path(
        "cases", "271-4010-cms-hets-component-pipe-eb13-hc-90669-iii-tab-indented.x12"
    )
    patient = read_271(path.read_bytes()).transactions[0].patients[0]
    assert patient.coverage_status == "active"


def test_a_reversed_period_is_not_taken_as_history() -> None:
    status, _ = _status("EB*1**30", "EB*6**30", "DTP*307*RD8*20091231-20090101")
    assert status == "unknown"
