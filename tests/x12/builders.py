"""Small helpers to write made-up X12 271s for tests (no real person, payer or provider)."""

from __future__ import annotations

CANARY_LAST = "CANARYLAST"
CANARY_MEMBER = "CANARYMEMBER123"
CANARY_DOB = "19010203"


def isa(
    *,
    element: str = "*",
    repetition: str = "^",
    version: str = "00501",
    component: str = ":",
    control: str = "000000001",
) -> str:
    """An ISA with fixed-width fields (106 characters before the terminator)."""
    fields = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        "TESTPAYER".ljust(15),
        "ZZ",
        "TESTCLINIC".ljust(15),
        "261203",
        "1200",
        repetition,
        version,
        control,
        "0",
        "T",
        component,
    ]
    return element.join(fields)


SUBSCRIBER_BODY = [
    "BHT*0022*11*REF0001*20261203*1200",
    "HL*1**20*1",
    "NM1*PR*2*TEST PAYER*****PI*99999",
    "HL*2*1*21*1",
    "NM1*1P*2*TEST CLINIC*****XX*1234567893",
    "HL*3*2*22*0",
    "TRN*2*TRACE-0001*9TESTCLINIC",
    f"NM1*IL*1*{CANARY_LAST}*PAT****MI*{CANARY_MEMBER}",
    "REF*6P*GROUP01*TEST GROUP",
    f"DMG*D8*{CANARY_DOB}*F",
    "DTP*346*D8*20260101",
    "EB*1*IND*30^98*PR*TEST GOLD",
    "EB*B*IND*98*PR*TEST GOLD*27*10.00*****Y",
    "EB*B*IND*98*PR*TEST GOLD*27*30.00*****N",
    "EB*C*IND*30*PR*TEST GOLD*23*1000.00*****Y",
    "EB*C*IND*30*PR*TEST GOLD*29*250.00*****Y",
    "EB*A*IND*30*PR*TEST GOLD*27**.2****Y",
    "EB*B*IND*98*PR*TEST GOLD*27*25.00****N*Y*HC:99213:25",
    "MSG*TEST MESSAGE",
    "III*ZZ*11",
    "EB*L",
    "LS*2120",
    "NM1*P3*1*TESTDOC*GAMMA****XX*1234567893",
    "N3*1 TEST ROAD",
    "N4*TESTCITY*MO*00000",
    "PER*IC**TE*8005550100",
    "PRV*PE*PXC*207Q00000X",
    "LE*2120",
]


def make_271(
    body: list[str] | None = None,
    *,
    element: str = "*",
    component: str = ":",
    repetition: str = "^",
    terminator: str = "~",
    version: str = "00501",
    gs01: str = "HB",
    implementation: str = "005010X279A1",
    after_terminator: str = "",
    transaction_set: str = "271",
) -> str:
    """A whole interchange with correct counts around `body` (written with `*`, `:` and `^`)."""
    lines = list(SUBSCRIBER_BODY if body is None else body)
    st03 = f"*{implementation}" if implementation else ""
    segments = [
        isa(element=element, repetition=repetition, version=version, component=component),
        f"GS*{gs01}*TESTPAYER*TESTCLINIC*20261203*1200*1*X*{implementation or '004010X092A1'}",
        f"ST*{transaction_set}*0001{st03}",
        *lines,
        f"SE*{len(lines) + 2}*0001",
        "GE*1*1",
        "IEA*1*000000001",
    ]
    out = []
    for i, seg in enumerate(segments):
        if i > 0:
            seg = seg.replace("*", element)
            if component != ":":
                seg = seg.replace(":", component)
            if repetition != "^" and len(repetition) == 1 and not repetition.isalnum():
                seg = seg.replace("^", repetition)
        out.append(seg)
    return (terminator + after_terminator).join(out) + terminator
