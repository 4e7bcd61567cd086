"""One test per kind of failure seen in other X12 parsers (B01-B25), on fixtures written here."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cptverify.x12.errors import TruncatedInterchangeError
from cptverify.x12.json_view import interchange_to_dict
from cptverify.x12.reader271 import read_271
from cptverify.x12.segments import tokenize
from tests.x12.builders import SUBSCRIBER_BODY, isa, make_271

HEAD = SUBSCRIBER_BODY[:5]  # BHT, 2000A/2100A, 2000B/2100B

DEPENDENT_BODY = [
    *HEAD,
    "HL*3*2*22*1",
    "NM1*IL*1*TESTSUB*ALPHA****MI*TEST00001",
    "HL*4*3*23*0",
    "TRN*2*TRACE-0002*9TESTCLINIC",
    "NM1*03*1*TESTDEP*BETA",
    "DMG*D8*20100101*F",
    "INS*N*19",
    "EB*1**30**GOLD PLAN",
    "EB*L",
    "LS*2120",
    "NM1*P3*1*TESTDOC*GAMMA****XX*1234567893",
    "LE*2120",
    "EB*B**1^33^98^UC*HM*GOLD PLAN*27*10.00*****Y",
    "EB*B**1^33^98^UC*HM*GOLD PLAN*27*30.00*****N",
]


def warning_codes(text: str) -> set[str]:
    return {w.code for w in read_271(text).warnings}


def test_b01_dependent_loops_and_isa11_letter_reported() -> None:
    ic = read_271(make_271(DEPENDENT_BODY, repetition="U"))
    assert "isa11_invalid" in {w.code for w in ic.warnings}
    dependent = ic.transactions[0].patients[1]
    assert dependent.role == "dependent"
    assert dependent.subscriber_member_id == "TEST00001"
    copays = [(b.amount, b.in_plan_network) for b in dependent.benefits if b.code == "B"]
    assert copays == [(Decimal("10.00"), "Y"), (Decimal("30.00"), "N")]
    # With an invalid ISA11 nothing is split on it.
    assert dependent.benefits[-1].service_types == ["1^33^98^UC"]
    assert dependent.benefits[1].related_entities[0].last_name == "TESTDOC"


def test_b02_le_closes_the_2120_and_next_eb_is_a_new_row() -> None:
    dependent = read_271(make_271(DEPENDENT_BODY)).transactions[0].patients[1]
    assert [b.code for b in dependent.benefits] == ["1", "L", "B", "B"]
    assert dependent.benefits[2].related_entities == []


def test_b03_repetition_separator_from_isa11_for_5010() -> None:
    dependent = read_271(make_271(DEPENDENT_BODY, repetition="^")).transactions[0].patients[1]
    assert dependent.benefits[-1].service_types == ["1", "33", "98", "UC"]


def test_b04_no_split_on_letters_with_00401() -> None:
    body = [*HEAD, "HL*3*2*22*0", "NM1*IL*1*TESTSUB*ALPHA****MI*B005UO5D12", "EB*1**UC"]
    text = make_271(body, repetition="U", version="00401", implementation="")
    tokens = tokenize(text)
    assert tokens.delimiters.repetition is None
    patient = read_271(text).transactions[0].patients[0]
    assert patient.member_id == "B005UO5D12"
    assert patient.benefits[0].service_types == ["UC"]
    assert read_271(text).transactions[0].version == "4010"


def test_b05_version_mismatch_is_a_warning_and_body_is_read() -> None:
    text = make_271(DEPENDENT_BODY).replace("1*X*005010X279A1", "1*X*005010X279")
    ic = read_271(text)
    assert "version_mismatch" in {w.code for w in ic.warnings}
    assert ic.transactions[0].implementation == "005010X279A1"
    assert ic.transactions[0].patients[1].coverage_status == "active"


def test_b06_nm1_outside_ls_after_eb_is_not_a_new_loop() -> None:
    body = [*HEAD, "HL*3*2*22*0", "NM1*IL*1*TESTSUB*ALPHA****MI*M1", "EB*1**30", "NM1*P3*1*X"]
    ic = read_271(make_271(body))
    patient = ic.transactions[0].patients[0]
    assert patient.last_name == "TESTSUB"
    assert patient.benefits[0].related_entities == []
    assert "nm1_misplaced" in {w.code for w in ic.warnings}


def test_b07_2120_children_attach_to_the_entity() -> None:
    patient = read_271(make_271()).transactions[0].patients[0]
    entity = patient.benefits[-1].related_entities[0]
    assert entity.address is not None
    assert (entity.address.line1, entity.address.city, entity.address.state) == (
        "1 TEST ROAD",
        "TESTCITY",
        "MO",
    )
    assert entity.contacts[0].channels == [("TE", "8005550100")]
    assert (entity.provider_code, entity.taxonomy) == ("PE", "207Q00000X")


def test_b08_nested_json_rendering() -> None:
    data = interchange_to_dict(read_271(make_271(DEPENDENT_BODY)))
    text = json.dumps(data)
    patient = data["transactions"][0]["patients"][1]
    assert patient["benefits"][1]["related_entities"][0]["last_name"] == "TESTDOC"
    assert "Decimal" not in text


def test_b09_many_transactions_and_raw_codes_kept() -> None:
    one = make_271([*HEAD, "HL*3*2*22*0", "NM1*IL*1*A*B****MI*M1", "EB*MC**30", "EB*R**30"])
    parts = one.split("~")
    st_start = next(i for i, p in enumerate(parts) if p.startswith("ST*"))
    se_end = next(i for i, p in enumerate(parts) if p.startswith("SE*"))
    txn = parts[st_start : se_end + 1]
    many = parts[:st_start] + txn * 153 + ["GE*153*1", "IEA*1*000000001", ""]
    ic = read_271("~".join(many))
    assert len(ic.transactions) == 153
    assert all(t.patients[0].benefits[0].code == "MC" for t in ic.transactions)
    assert not {w.code for w in ic.warnings} - {"se_control_number"}


def test_b10_rows_differing_only_by_msg_are_all_kept() -> None:
    body = [*HEAD, "HL*3*2*22*0", "NM1*IL*1*A*B****MI*M1", "EB*1**30"]
    for amount, note in (("45", "PCP OFFICE"), ("70", "SPECIALIST"), ("0", "TELEMEDICINE")):
        body += [f"EB*B*EMP*98****{amount}*****Y", f"MSG*{note}"]
    patient = read_271(make_271(body)).transactions[0].patients[0]
    rows = [(b.amount, b.messages) for b in patient.benefits if b.code == "B"]
    assert rows == [
        (Decimal("45"), ["PCP OFFICE"]),
        (Decimal("70"), ["SPECIALIST"]),
        (Decimal("0"), ["TELEMEDICINE"]),
    ]


def test_b11_entity_qualifies_the_eb_before_ls_only() -> None:
    body = [
        *HEAD,
        "HL*3*2*22*0",
        "NM1*IL*1*A*B****MI*M1",
        "EB*1**30**MEDICAID",
        "EB*MC**30",
        "LS*2120",
        "NM1*Y2*2*TEST MANAGED CARE",
        "LE*2120",
        "EB*1**56",
    ]
    patient = read_271(make_271(body)).transactions[0].patients[0]
    assert [len(b.related_entities) for b in patient.benefits] == [0, 1, 0]
    assert patient.coverage.related_entities[0].last_name == "TEST MANAGED CARE"
    assert patient.coverage.related_entities[0].benefit_code == "MC"


def test_b12_aaa_51_at_2100b_is_provider_not_on_file() -> None:
    body = [*HEAD, "AAA*N**51*C"]
    txn = read_271(make_271(body)).transactions[0]
    [aaa] = txn.errors
    assert (aaa.loop, aaa.code, aaa.follow_up, aaa.retryable) == ("2100B", "51", "C", False)
    assert "provider" in aaa.description
    assert txn.patients == []


def test_b13_unknown_gender_is_accepted() -> None:
    body = [*HEAD, "HL*3*2*22*0", "NM1*IL*1*A*B****MI*M1", "DMG*D8*19800101*U", "EB*1**30"]
    patient = read_271(make_271(body)).transactions[0].patients[0]
    assert patient.gender == "U"


@pytest.mark.parametrize("terminator", ["\n", "\r", "~"])
def test_b14_newline_or_cr_terminator_and_whitespace_after(terminator: str) -> None:
    after = "  \r\n" if terminator == "~" else ""
    text = make_271(terminator=terminator, after_terminator=after)
    assert tokenize(text).delimiters.terminator == terminator
    patient = read_271(text).transactions[0].patients[0]
    assert [b.amount for b in patient.benefits if b.code == "B"][:2] == [
        Decimal("10.00"),
        Decimal("30.00"),
    ]


def test_b15_005010x279a1_hb_is_read_as_5010() -> None:
    txn = read_271(make_271()).transactions[0]
    assert (txn.implementation, txn.version) == ("005010X279A1", "5010")


def test_b16_blank_lines_between_segments_are_skipped() -> None:
    text = make_271(after_terminator="\n\n   \n\t\n")
    ic = read_271(text)
    assert ic.transactions[0].patients[0].coverage_status == "active"
    assert not {w.code for w in ic.warnings}


def test_b17_delimiters_read_from_the_isa() -> None:
    text = make_271(element="|", component=">", repetition="!", terminator="\x1d")
    delimiters = tokenize(text).delimiters
    assert (delimiters.element, delimiters.component, delimiters.repetition) == ("|", ">", "!")
    patient = read_271(text).transactions[0].patients[0]
    assert patient.benefits[0].service_types == ["30", "98"]
    procedure = next(b.procedure for b in patient.benefits if b.procedure)
    assert (procedure.qualifier, procedure.code, procedure.modifiers) == ("HC", "99213", ["25"])


def test_b18_segment_group_and_interchange_counts_checked() -> None:
    text = make_271().replace("SE*30*0001", "SE*7*0001").replace("GE*1*1", "GE*2*1")
    text = text.replace("IEA*1*", "IEA*3*")
    found = warning_codes(text)
    assert {"se_count", "ge_count", "iea_count"} <= found
    ic = read_271(text)
    se = next(w for w in ic.warnings if w.code == "se_count")
    assert se.segment == len(tokenize(text).segments) - 2


def test_b19_payer_id_qualifier_kept_raw() -> None:
    body = list(HEAD)
    body[2] = "NM1*PR*2*TEST PAYER*****46*99999"
    txn = read_271(make_271([*body, "AAA*Y**42*R"])).transactions[0]
    assert txn.payer is not None and (txn.payer.id_qualifier, txn.payer.id) == ("46", "99999")


def test_b20_d8_and_rd8_dates_never_swap_month_and_day() -> None:
    body = [
        *HEAD,
        "HL*3*2*22*0",
        "NM1*IL*1*A*B****MI*M1",
        "DTP*291*RD8*20250905-20251231",
        "EB*1**30",
        "DTP*348*D8*20250102",
    ]
    patient = read_271(make_271(body)).transactions[0].patients[0]
    span = patient.coverage.dates["291"]
    assert (str(span.start), str(span.end)) == ("2025-09-05", "2025-12-31")
    assert str(patient.benefits[0].dates[0].start) == "2025-01-02"


def test_b21_st03_present_and_hl03_as_strings() -> None:
    body = [*HEAD, "HL*3*2*22*0", "NM1*IL*1*A*B****MI*M1", "EB*1**30"]
    txn = read_271(make_271(body)).transactions[0]
    assert txn.implementation == "005010X279A1"
    assert txn.patients[0].role == "subscriber"


def test_b22_isa_one_character_short_found_by_counting() -> None:
    text = make_271(repetition="U", version="00401", implementation="")
    short = text.replace("TESTCLINIC     ", "TESTCLINIC    ", 1)
    tokens = tokenize(short)
    assert (tokens.delimiters.component, tokens.delimiters.terminator) == (":", "~")
    assert tokens.delimiters.repetition is None
    assert read_271(short).transactions[0].patients[0].coverage_status == "active"


def test_b23_ta1_between_isa_and_gs() -> None:
    text = make_271()
    first = text.index("~") + 1
    text = text[:first] + "TA1*000000001*261203*1200*A*000~" + text[first:]
    ic = read_271(text)
    assert "ta1_present" in {w.code for w in ic.warnings}
    assert ic.transactions[0].patients[0].coverage_status == "active"


def test_b24_short_input_names_the_isa_and_bom_is_tolerated() -> None:
    with pytest.raises(TruncatedInterchangeError) as caught:
        read_271(isa()[:60])
    assert caught.value.segment == 1
    text = "\ufeff \r\n" + make_271()
    assert read_271(text.encode("utf-8")).transactions[0].patients[0].member_id


def test_b25_known_values_shown_unknown_null_and_period_kept() -> None:
    data = interchange_to_dict(read_271(make_271()))
    rows = data["transactions"][0]["patients"][0]["benefits"]
    deductible = [(b["time_period"], b["amount"]) for b in rows if b["code"] == "C"]
    assert deductible == [("23", "1000.00"), ("29", "250.00")]
    coinsurance = next(b for b in rows if b["code"] == "A")
    assert (coinsurance["percent"], coinsurance["amount"]) == ("0.2", None)
    oop = [b for b in rows if b["code"] == "G"]
    assert oop == []
