"""Adversarial payer answers through the connector: odd Retry-After values, envelopes with
payer-written text, 271s that do not answer our 270. Each must map to its outcome class, with a
finite least delay and a message free of whatever the payer wrote."""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import pytest

from cptverify.payers import mime, soap
from cptverify.payers.connector import PayerConnector
from cptverify.payers.core import PAYLOAD_TYPE_271, SUCCESS
from cptverify.payers.credentials import Credentials
from cptverify.payers.errors import PayerError, PayerRejected, PayerUnavailable, ResponseInvalid
from cptverify.payers.metrics import MemoryPayerMetrics
from cptverify.payers.registry import get_payer
from tests.simulator.conftest import build_for, inquiry_for

CANARY = "CANARYMEMBER123"
SOAP_XML = "application/soap+xml"


@pytest.fixture(scope="module")
def acme_270() -> tuple[str, str]:
    inquiry = inquiry_for("ACME", "M1234567", "JANE", "DOE", "1980-01-02")
    return build_for(get_payer("ACME"), inquiry)


def _connector(answer: Callable[[httpx.Request], httpx.Response], payer_id: str = "ACME"):
    return PayerConnector(
        get_payer(payer_id),
        credentials=Credentials("u", "p"),
        base_url="http://127.0.0.1:9",
        metrics=MemoryPayerMetrics(),
        http_transport=httpx.MockTransport(answer),
    )


def _mime(fields: dict[str, str], status: int = 200) -> httpx.Response:
    body, content_type = mime.encode_fields(fields)
    return httpx.Response(status, content=body, headers={"Content-Type": content_type})


def _ok_fields(payload: str) -> dict[str, str]:
    return {"PayloadType": PAYLOAD_TYPE_271, "ErrorCode": SUCCESS, "Payload": payload}


def _send(connector: PayerConnector, x12_270: str, trace: str) -> PayerError:
    with connector, pytest.raises(PayerError) as info:
        connector.send(x12_270, expected_traces=[trace])
    return info.value


@pytest.mark.parametrize(
    "retry_after",
    [
        "\u00b2",  # a superscript two: str.isdigit() says yes, float() says no
        "9" * 400,  # more digits than a float holds
        "Fri, 31 Dec 9999 23:59:59 GMT",  # a date thousands of years away
        "-5",
        "1.5",
        "soon",
    ],
)
@pytest.mark.parametrize("status", [429, 503])
def test_odd_retry_after_is_unavailable_with_a_finite_bounded_delay(
    acme_270: tuple[str, str], retry_after: str, status: int
) -> None:
    connector = _connector(
        lambda request: httpx.Response(
            status, headers={b"Retry-After": retry_after.encode("utf-8")}
        )
    )

    exc = _send(connector, *acme_270)

    assert type(exc) is PayerUnavailable and exc.retryable
    assert math.isfinite(exc.least_delay_seconds)
    assert 0 <= exc.least_delay_seconds <= 24 * 3600


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda r: httpx.Response(200, content=b""), ResponseInvalid),
        (lambda r: httpx.Response(200, content=b"<html>oops</html>"), ResponseInvalid),
        (lambda r: _mime({"PayloadType": PAYLOAD_TYPE_271, "ErrorCode": SUCCESS}), ResponseInvalid),
        (lambda r: _mime({"ErrorCode": SUCCESS, "Payload": "   "}), ResponseInvalid),
        (lambda r: _mime({"ErrorCode": "UnAuthorized", "ErrorMessage": CANARY}), PayerRejected),
        (lambda r: httpx.Response(401, content=CANARY.encode()), PayerRejected),
    ],
)
def test_broken_envelopes_map_to_their_class(
    acme_270: tuple[str, str], answer: Callable[[httpx.Request], httpx.Response], error: type
) -> None:
    exc = _send(_connector(answer), *acme_270)

    assert type(exc) is error
    assert CANARY not in str(exc)


@pytest.mark.parametrize(
    "fields",
    [
        {"ErrorCode": f"Refused-{CANARY}"},
        {"ErrorCode": SUCCESS, "PayloadType": f"X12_{CANARY}", "Payload": "ISA*"},
    ],
)
def test_payer_written_envelope_text_never_reaches_the_message(
    acme_270: tuple[str, str], fields: dict[str, str]
) -> None:
    exc = _send(_connector(lambda r: _mime(fields)), *acme_270)

    assert isinstance(exc, PayerRejected | ResponseInvalid)
    assert CANARY not in str(exc)
    assert CANARY not in repr(exc.to_dict())


def test_soap_fault_text_never_reaches_the_message(acme_270: tuple[str, str]) -> None:
    fault = soap.encode_fault(f"Sender.{CANARY}", f"member {CANARY} unknown")
    connector = _connector(
        lambda r: httpx.Response(400, content=fault, headers={"Content-Type": SOAP_XML}),
        "BLUEPEAK",
    )

    exc = _send(connector, *acme_270)

    assert type(exc) is PayerRejected
    assert CANARY not in str(exc) and CANARY not in repr(exc.to_dict())


def _simulated_271(acme_270: tuple[str, str]) -> tuple[str, str]:
    """A real 271 for the 270 from the simulator's writer (the default plan book)."""
    from cptverify_local.simulator.planbook import load_plan_book
    from cptverify_local.simulator.request import asked_from_270
    from cptverify_local.simulator.writer271 import write_271

    book = load_plan_book()
    member = book.payers["ACME"].members[0]
    inquiry = inquiry_for(
        "ACME", member.member_id, member.first_name, member.last_name, member.birth_date.isoformat()
    )
    x12_270, trace = build_for(get_payer("ACME"), inquiry)
    return write_271(asked_from_270(x12_270), book, book.payers["ACME"]), trace


def _without_trn(x12_271: str) -> str:
    """The 271 with its TRN*2 removed and SE01 kept consistent."""
    lines = [s for s in x12_271.split("~\n") if not s.startswith("TRN*2*")]
    assert len(lines) == len(x12_271.split("~\n")) - 1
    fixed = []
    for segment in lines:
        if segment.startswith("SE*"):
            parts = segment.split("*")
            parts[1] = str(int(parts[1]) - 1)
            segment = "*".join(parts)
        fixed.append(segment)
    return "~\n".join(fixed)


def test_a_271_without_our_trace_does_not_answer_our_270(acme_270: tuple[str, str]) -> None:
    # GIVEN the simulator's own 271 for a 270, and the same 271 with its TRN taken out
    x12_271, trace = _simulated_271(acme_270)
    good = _connector(lambda r: _mime(_ok_fields(x12_271)))
    bad = _connector(lambda r: _mime(_ok_fields(_without_trn(x12_271))))

    # WHEN each is the payer's answer
    with good:
        answered = good.send("unused", expected_traces=[trace])
    with bad, pytest.raises(ResponseInvalid) as info:
        bad.send("unused", expected_traces=[trace])

    # THEN the untraced one is not taken as the answer to our 270
    assert answered.interchange is not None and not answered.interchange.warnings
    assert info.value.code == "trn"


@pytest.mark.parametrize("status", [200, 503])
def test_a_body_that_does_not_decode_is_response_invalid(
    acme_270: tuple[str, str], status: int
) -> None:
    broken = {"Content-Encoding": "gzip"}
    connector = _connector(lambda r: httpx.Response(status, content=b"not gzip", headers=broken))

    exc = _send(connector, *acme_270)

    assert type(exc) is ResponseInvalid and exc.code == "content_encoding"
    assert isinstance(connector.metrics, MemoryPayerMetrics)
    assert connector.metrics.outcomes == {("ACME", "ResponseInvalid"): 1}


def test_an_unexpected_error_is_not_counted_as_an_answer(acme_270: tuple[str, str]) -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug below the connector")

    connector = _connector(explode)

    with connector, pytest.raises(RuntimeError):
        connector.send(acme_270[0], expected_traces=[acme_270[1]])

    assert isinstance(connector.metrics, MemoryPayerMetrics)
    assert connector.metrics.outcomes == {("ACME", "unexpected_error"): 1}


@pytest.mark.parametrize(
    ("status", "error"),
    [(408, PayerUnavailable), (425, PayerUnavailable), (400, PayerRejected), (404, PayerRejected)],
)
def test_transient_4xx_is_unavailable_and_the_rest_rejected(
    acme_270: tuple[str, str], status: int, error: type
) -> None:
    exc = _send(_connector(lambda r: httpx.Response(status, content=b"")), *acme_270)

    assert type(exc) is error and exc.http_status == status


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    b"<l>&c;</l>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&x;'
    b"</soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize("body", [BOMB, EXTERNAL, b"<soap:Envelope", b"\x00\xff" * 50])
def test_hostile_soap_answers_are_response_invalid(acme_270: tuple[str, str], body: bytes) -> None:
    connector = _connector(
        lambda r: httpx.Response(200, content=body, headers={"Content-Type": SOAP_XML}),
        "BLUEPEAK",
    )

    exc = _send(connector, *acme_270)

    assert type(exc) is ResponseInvalid and exc.code == "envelope"
    assert "passwd" not in str(exc)
