"""Conformance: every 271 in ../shared/cases read into the values its oracle in CASES.md lists."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cptverify.x12.json_view import interchange_to_dict
from cptverify.x12.model import Benefit, Interchange, Patient
from cptverify.x12.reader271 import read_271
from cptverify.x12.segments import tokenize, walk_envelope
from tests.conftest import shared_path

TEN_STCS = ["1", "33", "35", "47", "86", "88", "98", "AL", "MH", "UC"]


def read(name: str) -> Interchange:
    return read_271(shared_path("cases", name).read_bytes())


def codes(ic: Interchange) -> set[str]:
    return {w.code for w in ic.warnings}


def aaa_list(errors: list) -> list[tuple[str, str | None, str | None]]:
    return [(a.loop, a.code, a.follow_up) for a in errors]


def only_patient(ic: Interchange, role: str = "subscriber") -> Patient:
    patients = [p for t in ic.transactions for p in t.patients if p.role == role]
    assert len(patients) == 1
    return patients[0]


def copays(patient: Patient) -> list[Benefit]:
    return [b for b in patient.benefits if b.code == "B"]


def assert_c01_copays(patient: Patient) -> None:
    rows = copays(patient)
    assert [(b.amount, b.in_plan_network, b.time_period, b.insurance_type) for b in rows] == [
        (Decimal("10"), "Y", "27", "HM"),
        (Decimal("30"), "N", "27", "HM"),
    ]
    for row in rows:
        assert row.service_types == TEN_STCS
    assert not [b for b in patient.benefits if b.code in ("A", "C", "G")]


def test_every_271_case_reads_without_error() -> None:
    cases = shared_path("cases")
    files = sorted(cases.glob("271-*.x12"))
    assert len(files) >= 25
    for path in files:
        ic = read_271(path.read_bytes())
        assert ic.transactions, path.name


def test_c01_subscriber_copays_in_and_out_of_network() -> None:
    ic = read("271-tr3-subscriber-active-copay-innet10-outnet30.x12")
    txn = ic.transactions[0]
    assert txn.payer is not None
    assert (txn.payer.last_name, txn.payer.id_qualifier, txn.payer.id) == (
        "ABC COMPANY",
        "PI",
        "841610001",
    )
    patient = only_patient(ic)
    assert (patient.last_name, patient.first_name, patient.member_id) == (
        "TESTSUB",
        "ALPHA",
        "TEST00001",
    )
    assert patient.birth_date is not None and patient.birth_date.isoformat() == "1970-01-01"
    assert patient.gender == "M"
    plan_begin = patient.coverage.dates["346"].start
    assert plan_begin is not None and plan_begin.isoformat() == "2006-01-01"
    assert patient.coverage_status == "active"
    first = patient.benefits[0]
    assert (first.code, first.service_types, first.plan_description) == (
        "1",
        ["30"],
        "GOLD 123 PLAN",
    )
    pcp = patient.benefits[1]
    assert pcp.code == "L"
    assert [(e.entity_id, e.last_name, e.id_qualifier, e.id) for e in pcp.related_entities] == [
        ("P3", "TESTDOC", "SV", "0202034")
    ]
    assert patient.benefits[2].service_types == TEN_STCS
    assert_c01_copays(patient)
    assert not ic.warnings


def test_c01_json_copays_as_strings_and_no_coinsurance() -> None:
    data = interchange_to_dict(read("271-tr3-subscriber-active-copay-innet10-outnet30.x12"))
    benefits = data["transactions"][0]["patients"][0]["benefits"]
    office = [b for b in benefits if b["code"] == "B" and "98" in b["service_types"]]
    assert [(b["amount"], b["in_plan_network"]) for b in office] == [("10.00", "Y"), ("30.00", "N")]
    assert not [b for b in benefits if b["code"] == "A"]
    assert office[0]["percent"] is None


def test_c02_dependent_holds_all_benefits() -> None:
    ic = read("271-tr3-dependent-2000D-copay.x12")
    subscriber = only_patient(ic, "subscriber")
    dependent = only_patient(ic, "dependent")
    assert subscriber.benefits == []
    assert (dependent.last_name, dependent.first_name) == ("TESTDEP", "BETA")
    assert dependent.birth_date is not None and dependent.birth_date.isoformat() == "2010-01-01"
    assert dependent.gender == "F"
    assert dependent.relationship == "19"
    assert dependent.coverage_status == "active"
    assert dependent.coverage.plan == "GOLD 123 PLAN"
    assert_c01_copays(dependent)
    assert [e.last_name for e in dependent.coverage.related_entities] == ["TESTDOC"]
    assert "se_count" not in codes(ic)


def test_c03_rejection_at_2100b_and_se02_mismatch() -> None:
    ic = read("271-aaa-50-2100B-provider-ineligible-se02-mismatch.x12")
    txn = ic.transactions[0]
    assert [(a.loop, a.valid_request, a.code, a.follow_up) for a in txn.errors] == [
        ("2100B", "Y", "50", "N")
    ]
    assert txn.patients == []
    assert "se_control_number" in codes(ic)


def test_c04_bom_crlf_isa11_equals_isa16() -> None:
    ic = read("271-tr3-subscriber-bom-crlf-indented-isa11-isa16-both-caret.x12")
    assert {"isa11_equals_isa16", "gs01_functional_id"} <= codes(ic)
    patient = only_patient(ic)
    for benefit in patient.benefits:
        assert not any("^" in stc for stc in benefit.service_types)
    assert_c01_copays(patient)


def test_c05_aaa_in_every_loop_and_2120_payer() -> None:
    ic = read("271-aaa-multi-loop-2000A-2100A-2100B-2100C-2110C-messy-whitespace.x12")
    txn = ic.transactions[0]
    assert aaa_list(txn.errors) == [
        ("2000A", "80", "P"),
        ("2000A", "79", "N"),
        ("2100A", "79", "N"),
        ("2100A", "80", "P"),
        ("2100B", "41", "C"),
        ("2100B", "41", "C"),
    ]
    patient = only_patient(ic)
    assert aaa_list(patient.errors) == [("2100C", "42", "Y")]
    first = patient.benefits[0]
    assert aaa_list(first.errors) == [("2110C", "51", "N"), ("2110C", "60", "W")]
    payer = first.related_entities[0]
    assert payer.last_name == "COVENTRY HEALTH AND LIFE INSURANCE"
    assert payer.taxonomy == "207Q00000X"
    limitation = patient.benefits[1]
    assert (limitation.code, limitation.coverage_level, limitation.service_types) == (
        "F",
        "IND",
        ["12"],
    )
    assert (limitation.time_period, limitation.authorization_required) == ("32", "Y")
    assert limitation.in_plan_network == "N"
    assert_c01_copays(patient)
    assert patient.coverage_status == "rejected"
    assert "se_count" in codes(ic)


def test_c06_single_line_rejection_2100b() -> None:
    ic = read("271-aaa-50-2100B-single-line-repsep-gt.x12")
    txn = ic.transactions[0]
    assert aaa_list(txn.errors) == [("2100B", "50", "N")]
    assert txn.patients == []


def test_c07_dependent_with_hl04_on_a_leaf() -> None:
    ic = read("271-dependent-2000D-hl04-1-bom-crlf.x12")
    dependent = only_patient(ic, "dependent")
    assert dependent.last_name == "TESTDEP"
    assert dependent.coverage_status == "active"
    assert dependent.benefits[0].plan_description == "GOLD 123 PLAN"
    assert_c01_copays(dependent)
    assert [e.last_name for e in dependent.coverage.related_entities] == ["TESTDOC"]


def test_c08_rejection_without_eb_is_never_inactive() -> None:
    ic = read("271-aaa-multi-loop-no-eb.x12")
    txn = ic.transactions[0]
    assert aaa_list(txn.errors) == [
        ("2000A", "80", "P"),
        ("2000A", "79", "N"),
        ("2100A", "79", "N"),
        ("2100A", "80", "P"),
        ("2100B", "41", "C"),
        ("2100B", "41", "C"),
    ]
    patient = only_patient(ic)
    assert aaa_list(patient.errors) == [("2100C", "42", "Y")]
    assert patient.benefits == []
    assert patient.coverage_status == "rejected"


def test_c09_aaa_70_attached_to_the_dependent_eb() -> None:
    ic = read("271-aaa-70-2110D-after-eb-lowercase-trailing-space.x12")
    assert only_patient(ic, "subscriber").benefits == []
    dependent = only_patient(ic, "dependent")
    assert dependent.last_name == "testdep"
    [benefit] = dependent.benefits
    assert (benefit.code, benefit.service_types, benefit.plan_description) == (
        "1",
        ["30"],
        "bronze 123 plan",
    )
    assert aaa_list(benefit.errors) == [("2110D", "70", "C")]
    assert dependent.coverage_status != "active"
    assert "se_count" in codes(ic)


def test_c10_2100d_rejection_then_eb_is_not_confirmed() -> None:
    dependent = only_patient(read("271-aaa-58-2100D-invalid-dob.x12"), "dependent")
    assert aaa_list(dependent.errors) == [("2100D", "58", "C")]
    assert dependent.benefits[0].code == "1"
    assert dependent.coverage_status == "rejected"


def test_c11_four_provider_reasons_in_order() -> None:
    txn = read("271-aaa-43-44-45-47-2100B.x12").transactions[0]
    assert aaa_list(txn.errors) == [
        ("2100B", "43", "C"),
        ("2100B", "44", "C"),
        ("2100B", "45", "C"),
        ("2100B", "47", "C"),
    ]
    assert txn.patients == []


def test_c12_rejection_at_2100a() -> None:
    txn = read("271-aaa-79-2100A.x12").transactions[0]
    assert aaa_list(txn.errors) == [("2100A", "79", "C")]


def test_c13_aaa_at_2000a_without_nm1_is_reported() -> None:
    ic = read("271-aaa-2000A-without-nm1-malformed.x12")
    txn = ic.transactions[0]
    assert [(a.loop, a.valid_request, a.code, a.follow_up) for a in txn.errors] == [
        ("2000A", "Y", "42", "Y")
    ]
    assert txn.errors[0].retryable is True
    assert {"loop_missing", "se_count"} <= codes(ic)


def test_c15_subscriber_id_and_not_found() -> None:
    patient = only_patient(read("271-aaa-72-75-2100C-n4-missing-city.x12"))
    assert aaa_list(patient.errors) == [("2100C", "72", "C"), ("2100C", "75", "C")]
    assert all(a.retryable is False for a in patient.errors)
    assert patient.benefits == []
    assert patient.coverage_status == "rejected"


def test_c17_temporary_failure_and_disclaimer_only() -> None:
    patient = only_patient(read("271-aaa-Y-42-2100C-then-eb-P.x12"))
    assert aaa_list(patient.errors) == [("2100C", "42", "R")]
    assert patient.errors[0].retryable is True
    assert [b.code for b in patient.benefits] == ["P"]
    assert patient.coverage_status not in ("active", "inactive")


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("271-x279-subscriber-single-line-repsep-gt-2120-after-last-eb.x12", "subscriber"),
        ("271-x279-dependent-single-line-repsep-gt-2120-after-last-eb.x12", "dependent"),
        ("271-repsep-gt-gs01-HC-2120-after-last-eb.x12", "subscriber"),
    ],
)
def test_c18_c19_c20_entity_after_last_eb_belongs_to_it(name: str, role: str) -> None:
    ic = read(name)
    patient = only_patient(ic, role)
    assert_c01_copays(patient)
    pcp_row = next(b for b in patient.benefits if b.code == "L")
    assert pcp_row.related_entities == []
    last = patient.benefits[-1]
    assert (last.code, last.in_plan_network) == ("B", "N")
    assert [(e.entity_id, e.last_name) for e in last.related_entities] == [("P3", "TESTDOC")]
    if "gs01-HC" in name:
        assert "gs01_functional_id" in codes(ic)


def test_c21_mixed_versions_and_control_numbers() -> None:
    ic = read("271-mixed-00401-envelope-5010-st-trailing-empty-elements-se-wrong.x12")
    assert {"version_mismatch", "se_count", "iea_control_number"} <= codes(ic)
    patient = only_patient(ic)
    [benefit] = patient.benefits
    assert (benefit.code, benefit.service_types, benefit.plan_description) == (
        "1",
        ["30"],
        "GOLD 123 PLAN",
    )
    assert benefit.in_plan_network is None
    assert [e.last_name for e in benefit.related_entities] == ["TESTDOC"]
    assert patient.coverage_status == "active"


def test_c23_uhc_periods_percents_and_entities() -> None:
    patient = only_patient(
        read("271-uhc-medicare-advantage-2018-period-23-24-29-sentinel-99999.x12")
    )

    def amount(code: str, level: str, period: str) -> Decimal | None:
        row = next(
            b
            for b in patient.benefits
            if (b.code, b.coverage_level, b.time_period) == (code, level, period)
            and b.service_types == ["30"]
        )
        return row.amount

    assert amount("C", "IND", "23") == Decimal("290")
    assert amount("C", "IND", "24") == Decimal("290")
    assert amount("C", "IND", "29") == Decimal("0")
    assert amount("G", "IND", "23") == Decimal("3290")
    assert amount("G", "IND", "24") == Decimal("302.68")
    assert amount("G", "IND", "29") == Decimal("2987.32")
    assert amount("C", "FAM", "23") == Decimal("99999.99")
    office = next(b for b in patient.benefits if b.code == "B" and b.service_types == ["98"])
    assert (office.amount, office.time_period) == (Decimal("15"), "7")
    coins = [b for b in patient.benefits if b.code == "A" and "96" in b.service_types]
    assert [b.percent for b in coins] == [Decimal(".2")]
    assert {b.in_plan_network for b in patient.benefits if b.code in ("A", "B", "C", "G")} == {"W"}
    pcp = next(b for b in patient.benefits if b.code == "L")
    assert pcp.related_entities[0].entity_id == "P3"
    assert pcp.related_entities[0].taxonomy == "207Q00000X"
    pharmacy = next(b for b in patient.benefits if b.code == "U")
    assert pharmacy.related_entities[0].last_name == "OPTUMRX"
    info = patient.benefits[-1]
    assert info.code == "D" and info.messages and info.messages[0].startswith("NONADHERENT-CBP")
    assert patient.coverage_status == "active"


def test_c26_wv_medicaid_invalid_member_id() -> None:
    patient = only_patient(read("271-aaa-N-72-2100C-invalid-member-id-wv-medicaid-core.x12"))
    assert [(a.loop, a.valid_request, a.code, a.follow_up) for a in patient.errors] == [
        ("2100C", "N", "72", "C")
    ]
    assert patient.birth_date is not None
    assert patient.benefits == []
    assert patient.coverage_status == "rejected"


def test_c32_4010_raw_rc_codes_and_conflicting_status() -> None:
    ic = read("271-4010-sc-medicaid-aaa-RC-at-2000A-2100B-2100C-isa16-caret.x12")
    txn = ic.transactions[0]
    assert txn.version == "4010"
    assert aaa_list(txn.errors) == [("2000A", "RC", "C"), ("2100B", "RC", "C")]
    patient = only_patient(ic)
    assert aaa_list(patient.errors) == [("2100C", "RC", "C")]
    assert patient.errors[0].description
    eb01 = [b.code for b in patient.benefits]
    assert eb01[:2] == ["6", "1"] and "L" in eb01
    assert eb01.count("R") == 4
    assert patient.coverage_status != "active"
    policyholder = patient.benefits[-1]
    assert policyholder.code == "R" and policyholder.insurance_type == "OT"
    assert {d.qualifier for d in policyholder.dates} >= {"356", "357"}
    assert [r.qualifier for r in policyholder.references] == ["IG"]
    assert policyholder.related_entities


def test_c34_4010_hets_eb13_with_pipe_component() -> None:
    ic = read("271-4010-cms-hets-component-pipe-eb13-hc-90669-iii-tab-indented.x12")
    patient = only_patient(ic)
    assert ic.transactions[0].version == "4010"
    vaccine = next(b for b in patient.benefits if b.procedure is not None)
    assert vaccine.procedure is not None
    assert (vaccine.procedure.qualifier, vaccine.procedure.code) == ("HC", "90669")
    assert [d.start.isoformat() for d in vaccine.dates if d.start] == ["2009-04-06"]
    deductible_a = next(b for b in patient.benefits if b.code == "C" and b.insurance_type == "MA")
    assert deductible_a.amount == Decimal("992")
    reserve = next(b for b in patient.benefits if b.code == "K")
    assert (reserve.quantity_qualifier, reserve.quantity) == ("LA", Decimal("60"))
    part_b = next(b for b in patient.benefits if b.code == "C" and b.insurance_type == "MB")
    assert part_b.amount == Decimal("0")
    therapy = next(b for b in patient.benefits if b.service_types == ["AD"])
    assert therapy.amount == Decimal("1840")
    services = next(b for b in patient.benefits if b.service_types == ["67"])
    assert (services.quantity_qualifier, services.quantity) == ("P6", Decimal("8"))
    blood = next(b for b in patient.benefits if b.quantity_qualifier == "DB")
    assert blood.quantity == Decimal("3")
    part_d = next(b for b in patient.benefits if b.code == "R" and b.service_types == ["88"])
    assert [(p.qualifier, p.code) for p in part_d.places_of_service][0] == ("ZZ", "21")
    assert patient.benefits[-1].code == "6"
    assert "se_count" in codes(ic)


def test_c35_hets_preventive_codes_and_ls_9999() -> None:
    patient = only_patient(read("271-4010-cms-hets-preventive-eb13-many-hcpcs-ls-9999.x12"))
    hc = [
        b.procedure.code for b in patient.benefits if b.procedure and b.procedure.qualifier == "HC"
    ]
    expected = ["G0203", "G0202", "G0123", "G0328", "G0118", "G0117", "G0121", "G0101"]
    expected += ["G0120", "G0106", "G0107", "G0104", "G0105"]
    assert hc == expected
    raw = [b for b in patient.benefits if b.procedure and b.procedure.qualifier == "XX"]
    assert raw
    for row in patient.benefits:
        if row.procedure is not None and row.procedure.qualifier == "HC":
            assert [d.qualifier for d in row.dates] == ["348"]
    part_b = next(b for b in patient.benefits if b.code == "C" and b.insurance_type == "MB")
    assert part_b.amount == Decimal("0")
    assert patient.coverage.other_payers


def test_c36_isa_105_characters_dependent_inactive() -> None:
    path = shared_path("cases", "271-4010-dependent-inactive-eb6-long-msg-isa-105-chars.x12")
    tokens = tokenize(path.read_bytes())
    assert (tokens.delimiters.element, tokens.delimiters.component) == ("*", ">")
    assert tokens.delimiters.terminator == "~"
    ic = read_271(path.read_bytes())
    dependent = only_patient(ic, "dependent")
    assert dependent.relationship == "01"
    assert dependent.coverage_status == "inactive"
    assert [b.code for b in dependent.benefits] == ["6", "P"]
    dates = list(dependent.benefits[0].dates) + list(dependent.coverage.dates.values())
    assert any(
        d.qualifier == "307" and d.start and d.start.isoformat() == "2011-12-17" for d in dates
    )
    assert len(dependent.benefits[1].messages[0]) > 200


def test_c37_medifax_part_b_deductible_therapy_and_blood() -> None:
    patient = only_patient(
        read("271-4010-medicare-via-medifax-part-b-deductible-therapy-cap-blood.x12")
    )
    assert patient.coverage_status == "active"
    part_b = next(b for b in patient.benefits if b.code == "C" and b.insurance_type == "MB")
    assert part_b.amount == Decimal("0")
    therapy = [b.amount for b in patient.benefits if b.code == "F"]
    assert therapy == [Decimal("1860"), Decimal("1860")]
    hospice = next(b for b in patient.benefits if b.code == "X")
    assert hospice.service_types == ["45"] and hospice.related_entities
    blood = next(b for b in patient.benefits if b.quantity_qualifier == "DB")
    assert blood.quantity == Decimal("3")
    assert patient.traces[0].supplemental is None or patient.traces[0].originator


# Envelope aspects of the shared 270 requests (their content is covered by the 270 reader tests).


def envelope_codes(path: Path) -> tuple[set[str], list]:
    tokens = tokenize(path.read_bytes())
    envelope = walk_envelope(tokens)
    return {w.code for w in tokens.warnings + envelope.warnings}, envelope.transactions


def test_r04_terminator_0x1d() -> None:
    path = shared_path("cases", "270-5010-segment-terminator-0x1D-isa12-00401.x12")
    tokens = tokenize(path.read_bytes())
    assert tokens.delimiters.terminator == "\x1d"
    assert tokens.delimiters.repetition is None
    found, spans = envelope_codes(path)
    [span] = spans
    assert span.end - span.start + 1 == 13
    assert "se_count" not in found


def test_r07_gs01_hc_on_a_270() -> None:
    found, _ = envelope_codes(shared_path("cases", "270-5010-gs01-HC-wrong-functional-id.x12"))
    assert "gs01_functional_id" in found


def test_r11_counts_and_control_numbers() -> None:
    path = shared_path(
        "cases", "270-4010-trailing-empty-elements-se-count-and-control-mismatch.x12"
    )
    found, _ = envelope_codes(path)
    assert {"se_count", "se_control_number", "iea_control_number"} <= found
