"""Round trips through our connector and the simulator, over both CORE transports."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cptverify.x12.model import Benefit, Patient
from cptverify.x12.reader271 import read_271
from cptverify_local.simulator.planbook import PlanBook
from tests.simulator.conftest import build_for, connector_for, inquiry_for


def _rows(patient: Patient, code: str, network: str, procedure: str | None) -> list[Benefit]:
    return [
        b
        for b in patient.benefits
        if b.code == code
        and b.in_plan_network == network
        and ((b.procedure.code if b.procedure else None) == procedure)
    ]


@pytest.mark.parametrize(("payer_id", "transport"), [("ACME", "mime"), ("BLUEPEAK", "soap")])
def test_round_trip_values_equal_the_plan_book(simulator, plan_book: PlanBook, payer_id, transport):
    book = plan_book.payers[payer_id]
    member = book.members[0]
    plan = book.plans[member.plan]
    inquiry = inquiry_for(
        payer_id,
        member.member_id,
        member.first_name,
        member.last_name,
        member.birth_date.isoformat(),
        ("99213", "70551"),
    )
    with connector_for(simulator, payer_id) as connector:
        assert connector.payer.transport == transport
        x12, trace = build_for(connector.payer, inquiry)
        exchange = connector.send(x12)
    assert exchange.http_status == 200 and not exchange.rejected
    ic = exchange.interchange
    assert ic is not None and ic.warnings == []
    patient = ic.transactions[0].patients[0]
    assert patient.member_id == member.member_id
    assert patient.coverage_status == "active"
    assert [t.number for t in patient.traces] == [trace]
    assert patient.coverage.plan == plan.name

    spec = plan.procedures["99213"]
    copay = _rows(patient, "B", "Y", "99213")
    assert spec.in_network is not None
    assert [b.amount for b in copay] == [spec.in_network.copay]
    auth = [b for b in patient.benefits if b.procedure and b.procedure.code == "70551"]
    assert {b.authorization_required for b in auth if b.code == "1"} == {"Y"}

    assert plan.deductible is not None and plan.deductible.in_network is not None
    individual = plan.deductible.in_network.individual
    assert individual is not None
    deductible = {
        b.time_period: b.amount
        for b in patient.benefits
        if b.code == "C" and b.coverage_level == "IND" and b.in_plan_network == "Y"
    }
    assert deductible == {"23": individual.total, "29": individual.remaining}


def test_every_member_of_every_payer_reads_without_warnings(simulator, plan_book: PlanBook):
    for payer_id, book in plan_book.payers.items():
        if book.faults.down_first_requests or book.faults.rates:
            continue
        with connector_for(simulator, payer_id) as connector:
            for member in book.members:
                inquiry = inquiry_for(
                    payer_id,
                    member.member_id,
                    member.first_name,
                    member.last_name,
                    member.birth_date.isoformat(),
                )
                x12, _ = build_for(connector.payer, inquiry)
                exchange = connector.send(x12)
                ic = exchange.interchange
                assert ic is not None
                assert ic.warnings == [], (payer_id, member.member_id)
                patient = ic.transactions[0].patients[0]
                expected = "active" if member.active else "inactive"
                assert patient.coverage_status == expected, (payer_id, member.member_id)
                assert not exchange.rejections


def test_raw_simulator_output_passes_reader_for_each_habit(simulator, plan_book: PlanBook):
    """Read each payer's 271 text again with the reader alone: no envelope warnings."""
    for payer_id in ("ACME", "PLAINVIEW", "SUMMIT", "SENTINEL", "ODDDELIM", "ONECODE"):
        member = plan_book.payers[payer_id].members[0]
        with connector_for(simulator, payer_id) as connector:
            x12, _ = build_for(
                connector.payer,
                inquiry_for(
                    payer_id,
                    member.member_id,
                    member.first_name,
                    member.last_name,
                    member.birth_date.isoformat(),
                ),
            )
            text = connector.exchange(x12).payload
        assert read_271(text).warnings == [], payer_id


def _answer(simulator, payer_id: str, plan_book: PlanBook, **kw) -> Patient:
    member = plan_book.payers[payer_id].members[0]
    args: dict[str, Any] = {
        "member_id": member.member_id,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "birth_date": member.birth_date.isoformat(),
    }
    args.update(kw)
    with connector_for(simulator, payer_id) as connector:
        inquiry = inquiry_for(
            payer_id,
            args.pop("member_id"),
            args.pop("first_name"),
            args.pop("last_name"),
            args.pop("birth_date"),
            **args,
        )
        x12, _ = build_for(connector.payer, inquiry)
        exchange = connector.send(x12)
    assert exchange.interchange is not None
    return exchange.interchange.transactions[0].patients[-1]


def test_payer_that_ignores_procedure_codes_sends_no_eb13(simulator, plan_book):
    patient = _answer(simulator, "PLAINVIEW", plan_book)
    assert patient.benefits and all(b.procedure is None for b in patient.benefits)


def test_plan_level_only_payer_answers_service_type_30_only(simulator, plan_book):
    patient = _answer(simulator, "SUMMIT", plan_book)
    assert {stc for b in patient.benefits for stc in b.service_types} == {"30"}
    copays = [b.amount for b in patient.benefits if b.code == "B" and b.in_plan_network == "Y"]
    assert copays == [Decimal("40.00")]


def test_sentinel_payer_sends_99999_99(simulator, plan_book):
    patient = _answer(simulator, "SENTINEL", plan_book)
    assert Decimal("99999.99") in {b.amount for b in patient.benefits}


def test_odd_delimiters_are_read(simulator, plan_book):
    with connector_for(simulator, "ODDDELIM") as connector:
        member = plan_book.payers["ODDDELIM"].members[0]
        x12, _ = build_for(
            connector.payer,
            inquiry_for(
                "ODDDELIM",
                member.member_id,
                member.first_name,
                member.last_name,
                member.birth_date.isoformat(),
            ),
        )
        exchange = connector.send(x12)
    assert exchange.payload[3] == "|"
    patient = exchange.interchange.transactions[0].patients[0]  # type: ignore[union-attr]
    procedures = {b.procedure.code for b in patient.benefits if b.procedure}
    assert procedures == {"99213"}


def test_unknown_member_is_aaa_75_at_2100c(simulator, plan_book):
    patient = _answer(simulator, "ACME", plan_book, member_id="ZZZ999999")
    assert [(a.loop, a.code) for a in patient.errors] == [("2100C", "75")]
    assert patient.coverage_status == "rejected"


def test_wrong_birth_date_is_aaa_71(simulator, plan_book):
    patient = _answer(simulator, "ACME", plan_book, birth_date="1980-01-16")
    assert [a.code for a in patient.errors] == ["71"]


def test_unknown_provider_is_aaa_51_at_2100b(simulator, plan_book):
    member = plan_book.payers["ACME"].members[0]
    with connector_for(simulator, "ACME") as connector:
        inquiry = inquiry_for(
            "ACME",
            member.member_id,
            member.first_name,
            member.last_name,
            member.birth_date.isoformat(),
            npi="1003000126",
        )
        x12, _ = build_for(connector.payer, inquiry)
        exchange = connector.send(x12)
    assert exchange.rejected
    assert [(a.loop, a.code) for a in exchange.rejections] == [("2100B", "51")]


def test_dependent_is_answered_in_2000d(simulator, plan_book):
    member = plan_book.payers["ACME"].members[0]
    dep = member.dependents[0]
    dependent = {
        "first_name": dep.first_name,
        "last_name": dep.last_name,
        "birth_date": dep.birth_date.isoformat(),
        "relationship_code": "19",
    }
    patient = _answer(simulator, "ACME", plan_book, dependent=dependent)
    assert patient.role == "dependent"
    assert patient.coverage_status == "active"
    assert patient.first_name == dep.first_name


def test_other_payers_and_visit_limits(simulator, plan_book):
    patient = _answer(simulator, "ONECODE", plan_book)
    other = [e for b in patient.benefits if b.code == "R" for e in b.related_entities]
    assert [e.entity_id for e in other] == ["PRP"]
    acme = _answer(simulator, "ACME", plan_book, cpts=("97110",))
    limits = {b.time_period: b.quantity for b in acme.benefits if b.code == "F" and b.procedure}
    assert limits == {"23": Decimal(30), "29": Decimal(22)}


@pytest.mark.parametrize("fault", ["aaa42", "aaa80"])
def test_busy_271s_read_without_warnings(simulator, plan_book, fault):
    from cptverify.payers.connector import FAULT_HEADER

    member = plan_book.payers["ACME"].members[0]
    with connector_for(simulator, "ACME") as connector:
        inquiry = inquiry_for("ACME", member.member_id, member.first_name, member.last_name, None)
        x12, _ = build_for(connector.payer, inquiry)
        text = connector.exchange(x12, headers={FAULT_HEADER: fault}).payload
    ic = read_271(text)
    assert ic.warnings == []
    assert [a.code for a in ic.transactions[0].errors] == [fault.removeprefix("aaa")]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"member_id": "ZZZ1"}, "75"),
        ({"birth_date": "1980-02-02"}, "71"),
        ({"npi": "1003000126"}, "51"),
    ],
)
def test_rejection_271s_read_without_warnings(simulator, plan_book, change, code):
    member = plan_book.payers["ACME"].members[0]
    args: dict[str, Any] = {
        "member_id": member.member_id,
        "birth_date": member.birth_date.isoformat(),
        "npi": "1234567893",
    }
    args.update(change)
    with connector_for(simulator, "ACME") as connector:
        inquiry = inquiry_for(
            "ACME",
            args["member_id"],
            member.first_name,
            member.last_name,
            args["birth_date"],
            npi=args["npi"],
        )
        x12, _ = build_for(connector.payer, inquiry)
        text = connector.exchange(x12).payload
    ic = read_271(text)
    assert ic.warnings == []
    txn = ic.transactions[0]
    codes = [a.code for a in txn.errors] + [a.code for p in txn.patients for a in p.errors]
    assert codes == [code]
