"""Small schedules for the batch tests, with canary patient data and dates near today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cptverify.inquiry import npi_is_valid

TODAY = datetime.now(UTC).date()
DOS = (TODAY + timedelta(days=1)).isoformat() if TODAY.day < 28 else TODAY.isoformat()
DOS_US = f"{int(DOS[5:7])}/{int(DOS[8:10])}/{DOS[:4]}"

NPI = "1234567893"
NPI_2 = next(
    f"{n:09d}{d}"
    for n in range(100000000, 100000100)
    for d in range(10)
    if npi_is_valid(f"{n:09d}{d}")
)

CANARIES = ("CANARYLAST", "CANARYFIRST", "CANARYMEMBER123", "19010203", "1901-02-03")

HEADER = (
    "appointment_id,claim_id,date_of_service,payer_id,member_id,patient_first_name,"
    "patient_last_name,patient_birth_date,patient_gender,relationship,subscriber_first_name,"
    "subscriber_last_name,subscriber_birth_date,provider_npi,provider_network,procedures,"
    "allowed_amounts"
)


def row(
    appointment: str,
    *,
    claim: str = "",
    dos: str = DOS,
    payer: str = "ACME",
    member: str = "CANARYMEMBER123",
    first: str = "CANARYFIRST",
    last: str = "CANARYLAST",
    birth: str = "1901-02-03",
    gender: str = "F",
    relationship: str = "",
    sub_first: str = "",
    sub_last: str = "",
    sub_birth: str = "",
    npi: str = NPI,
    network: str = "in",
    procedures: str = "99213",
    amounts: str = "",
) -> str:
    cells = [
        appointment,
        claim,
        dos,
        payer,
        member,
        first,
        last,
        birth,
        gender,
        relationship,
        sub_first,
        sub_last,
        sub_birth,
        npi,
        network,
        procedures,
        amounts,
    ]
    return ",".join(f'"{c}"' if ("," in c or ";" in c) else c for c in cells)


def schedule(*rows: str, crlf: bool = False, bom: bool = False) -> bytes:
    text = "\n".join((HEADER, *rows)) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    return (("\ufeff" if bom else "") + text).encode()


def mixed_schedule() -> bytes:
    """Good rows, one of each bad kind, a duplicate, a dependent, several payers; Excel style."""
    return schedule(
        # 2: patient A, two procedures with amounts (ACME)
        row("A1", procedures="99213;97110:GP:59", amounts="120.00;95.00"),
        # 3: patient A again, same visit, another appointment/claim -> same inquiry
        row("A2", claim="CLM-2", procedures="70551"),
        # 4: exact duplicate of row 2
        row("A1", procedures="99213;97110:GP:59", amounts="120.00;95.00"),
        # 5: dependent of A's subscriber, US date (Excel), another payer
        row(
            "A3",
            payer="BLUEPEAK",
            first="CANARYKID",
            birth="3/4/2015",
            relationship="child",
            sub_first="CANARYFIRST",
            sub_last="CANARYLAST",
            sub_birth="1901-02-03",
            dos=DOS_US,
        ),
        # 6: same patient, other provider -> its own inquiry
        row("A4", npi=NPI_2, procedures="99214"),
        # 7..: bad rows, one kind each
        row("B1", npi="1234567890"),  # check digit
        row("B2", dos="2001-01-01"),  # outside the CORE window
        row("B3", procedures="9921X"),  # not a procedure code
        row("B4", procedures="99213;97110", amounts="10.00"),  # amounts misaligned
        row("B5", relationship="child"),  # dependent without subscriber fields
        row("B6", birth="not-a-date"),  # birth date
        row("B7", member=""),  # member id missing
        row("B8", relationship="cousin"),  # unknown relationship
        row("B9", procedures="97110:GPX"),  # modifier shape
        row("B10", network="maybe"),  # network
        row("B11", last="CANARY9LAST"),  # digits in a name
        crlf=True,
        bom=True,
    )
