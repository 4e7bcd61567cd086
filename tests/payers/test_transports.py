"""CORE envelopes: MIME multipart and SOAP 1.2 with WS-Security, hostile XML refused."""

from __future__ import annotations

import pytest

from cptverify.payers import mime, soap
from cptverify.payers.core import PAYLOAD_TYPE_270, CoreRequest, EnvelopeError

X12 = "ISA*00*...~ST*270*0001~SE*2*0001~"


def _request() -> CoreRequest:
    return CoreRequest(payload=X12, sender_id="S1", receiver_id="R1", username="u", password="p&<")


def test_mime_request_has_every_core_field():
    request = _request()
    body, content_type = mime.encode_request(request)
    fields = mime.decode_fields(body, content_type)
    assert fields["PayloadType"] == PAYLOAD_TYPE_270
    assert fields["ProcessingMode"] == "RealTime"
    assert fields["CORERuleVersion"] == "2.2.0"
    assert fields["Payload"] == X12
    assert fields["UserName"] == "u" and fields["Password"] == "p&<"
    assert len(fields["PayloadID"]) == 36 and fields["TimeStamp"].endswith("Z")
    assert (fields["SenderID"], fields["ReceiverID"]) == ("S1", "R1")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"hello", "text/plain"),
        (
            b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n',
            "multipart/form-data; boundary=b",
        ),
    ],
)
def test_mime_bad_answers_raise_envelope_error(body, content_type):
    with pytest.raises(EnvelopeError):
        mime.decode_fields(body, content_type)


def test_soap_request_carries_username_token_and_fields():
    body, content_type = soap.encode_request(_request())
    assert content_type.startswith("application/soap+xml")
    fields, username, password = soap.decode_request(body)
    assert (username, password) == ("u", "p&<")
    assert fields["Payload"] == X12 and fields["CORERuleVersion"] == "2.2.0"
    assert b"wsse:UsernameToken" in body and b"PasswordText" in body


def test_soap_response_and_fault():
    response = soap.decode_response(soap.encode_response({"Payload": X12, "ErrorCode": "Success"}))
    assert response.payload == X12 and response.error_code == "Success"
    fault = soap.decode_response(soap.encode_fault("Sender", "bad"))
    assert fault.error_code == "SOAPFault.Sender" and fault.error_message == "bad"


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>',
        b"<not-closed>",
        b"<Envelope/>",
    ],
)
def test_soap_hostile_or_broken_xml_is_refused(body):
    with pytest.raises(EnvelopeError):
        soap.decode_response(body)
