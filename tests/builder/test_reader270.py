"""read_270 on real 270 material (CASES.md R01, R02, R06, R09, R10, R12) and our own text."""

from __future__ import annotations

from datetime import date

import pytest

from cptverify.x12.errors import NotX12Error, StructureError
from cptverify.x12.reader270 import read_270
from tests.conftest import shared_path


def case(name: str) -> bytes:
    return shared_path("cases", name).read_bytes()


def test_r01_tr3_subscriber() -> None:
    (request,) = read_270(case("270-5010-tr3-subscriber-eq30.x12"))

    assert request.implementation == "005010X279A1"
    assert request.payer is not None and request.payer.identifier == "842610001"
    assert request.payer.id_qualifier == "PI"
    assert request.provider is not None and request.provider.last_name == "BONE AND JOINT CLINIC"
    assert request.subscriber is not None
    assert request.subscriber.identifier == "TEST0000001"
    assert request.subscriber.id_qualifier == "MI"
    assert request.subscriber.birth_date == date(1970, 1, 1)
    assert request.subscriber.gender is None
    assert request.dependent is None
    assert request.trace == "93175-012547"
    assert request.trace_originator == "9877281234"
    assert request.date_of_service == date(2006, 5, 1)
    assert [eq.service_types for eq in request.inquiries] == [["30"]]
    assert request.procedures == []
    assert not request.warnings


@pytest.mark.parametrize(
    "name",
    [
        "270-5010-tr3-dependent-2000D-eq30.x12",
        "270-5010-x279a1-dependent-single-line-repsep-gt.x12",
    ],
)
def test_r02_r06_dependent_in_2000d(name: str) -> None:
    (request,) = read_270(case(name))

    assert request.is_dependent
    assert request.subscriber is not None
    assert request.subscriber.identifier == "TEST0000001"
    assert request.subscriber.last_name is None
    assert request.dependent is not None
    assert request.dependent.entity_id == "03"
    assert (request.dependent.last_name, request.dependent.first_name) == ("TESTDEP", "BETA")
    assert request.dependent.birth_date == date(2010, 1, 1)
    assert request.trace == "93175-012547"
    assert request.date_of_service == date(2006, 5, 1)
    assert [eq.service_types for eq in request.inquiries] == [["30"]]
    assert not [w for w in request.warnings if w.code == "se_count"]


def test_r06_person_provider() -> None:
    (request,) = read_270(case("270-5010-x279a1-dependent-single-line-repsep-gt.x12"))

    assert request.provider is not None
    assert request.provider.entity_type == "1"
    assert (request.provider.last_name, request.provider.first_name) == ("TESTDOC", "GAMMA")


def test_r09_coverage_level_fam() -> None:
    (request,) = read_270(case("270-4010-eq30-coverage-level-FAM.x12"))

    (eq,) = request.inquiries
    assert eq.service_types == ["30"]
    assert eq.coverage_level == "FAM"
    assert request.payer is not None and request.payer.last_name is None
    assert request.payer.identifier == "123456789"


def test_r10_dependent_eq81_fam() -> None:
    (request,) = read_270(case("270-4010-dependent-eq81-fam-provider-per-prv.x12"))

    assert request.is_dependent
    assert request.dependent is not None and request.dependent.relationship_code == "19"
    assert request.dependent.gender == "F"
    (eq,) = request.inquiries
    assert (eq.service_types, eq.coverage_level) == (["81"], "FAM")
    assert request.date_qualifier == "472"
    assert request.date_of_service == date(2001, 10, 16)
    assert request.trace == "5277624582249192496"


def test_r12_two_eq_in_one_subscriber() -> None:
    (request,) = read_270(case("270-4010-repeated-eq30-ind-chd-lowercase-name.x12"))

    assert [(eq.service_types, eq.coverage_level) for eq in request.inquiries] == [
        (["30"], "IND"),
        (["30"], "CHD"),
    ]
    assert request.subscriber is not None and request.subscriber.last_name == "Testsub"


OWN_270 = (
    "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*PAYER          *261203*1200*^*00501"
    "*000000042*0*T*:~GS*HS*SUBMITTER*PAYER*20261203*1200*42*X*005010X279A1~"
    "ST*270*0042*005010X279A1~BHT*0022*13*REF42*20261203*1200~HL*1**20*1~"
    "NM1*PR*2*PAYER*****PI*PAYER~HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*1234567893~"
    "HL*3*2*22*0~TRN*1*TR42*9CPTVERIFY~NM1*IL*1*ROE*ANN****MI*M1~DMG*D8*19900230*F~"
    "DTP*291*RD8*20261201-20261203~EQ*98^UC**FAM~EQ**HC:97110:GP:59~DTP*291*D8*20261202~"
    "SE*15*0042~GE*1*42~IEA*1*000000042~"
)


def test_own_text_repetition_range_and_eq_dates() -> None:
    (request,) = read_270(OWN_270)

    assert request.date_qualifier == "291"
    assert (request.date_from, request.date_to) == (date(2026, 12, 1), date(2026, 12, 3))
    assert request.inquiries[0].service_types == ["98", "UC"]
    assert request.inquiries[0].coverage_level == "FAM"
    procedure = request.inquiries[1].procedure
    assert procedure is not None
    assert (procedure.qualifier, procedure.code, procedure.modifiers) == (
        "HC",
        "97110",
        ["GP", "59"],
    )
    assert request.inquiries[1].date_from == date(2026, 12, 2)
    assert request.service_types == ["98", "UC"]
    assert request.subscriber is not None and request.subscriber.birth_date is None
    assert [w.code for w in request.warnings] == ["dmg_date"]
    assert all("19900230" not in w.message for w in request.warnings)


def test_not_a_270() -> None:
    with pytest.raises(NotX12Error):
        read_270("hello")
    with pytest.raises(StructureError):
        read_270(OWN_270.replace("ST*270", "ST*271"))
