"""CORE SOAP 1.2 transport: the real-time envelope with a WS-Security UsernameToken.

Responses are untrusted input and are parsed with defusedxml (no entities, no DTDs).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from cptverify.payers.core import RESPONSE_FIELDS, CoreRequest, CoreResponse, EnvelopeError

SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
CORE_NS = "http://www.caqh.org/SOAP/WSDL/CORERule2.2.0.xsd"
WSDL_NS = "http://www.caqh.org/SOAP/WSDL/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)
CONTENT_TYPE = 'application/soap+xml; charset=utf-8; action="RealTimeTransaction"'


def _element(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


# Limitation: the UsernameToken carries PasswordText only (no PasswordDigest, Nonce or Created).
def encode_request(request: CoreRequest) -> tuple[bytes, str]:
    """The SOAP 1.2 envelope for `RealTimeTransaction`; returns (body, content type)."""
    body = "".join(_element(k, v) for k, v in request.fields().items())
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_NS}" xmlns:cor="{CORE_NS}">'
        "<soap:Header>"
        f'<wsse:Security xmlns:wsse="{WSSE_NS}" soap:mustUnderstand="true">'
        "<wsse:UsernameToken>"
        f"<wsse:Username>{escape(request.username)}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_TEXT}">{escape(request.password)}</wsse:Password>'
        "</wsse:UsernameToken></wsse:Security></soap:Header>"
        f"<soap:Body><cor:COREEnvelopeRealTimeRequest>{body}"
        "</cor:COREEnvelopeRealTimeRequest></soap:Body></soap:Envelope>"
    )
    return envelope.encode("utf-8"), CONTENT_TYPE


def encode_response(fields: dict[str, str]) -> bytes:
    """A `COREEnvelopeRealTimeResponse` envelope (used by the simulator and tests)."""
    body = "".join(_element(k, v) for k, v in fields.items() if k in RESPONSE_FIELDS)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_NS}" xmlns:cor="{CORE_NS}"><soap:Body>'
        f"<cor:COREEnvelopeRealTimeResponse>{body}</cor:COREEnvelopeRealTimeResponse>"
        "</soap:Body></soap:Envelope>"
    ).encode()


def encode_fault(code: str, reason: str) -> bytes:
    """A SOAP 1.2 Fault (code is Sender or Receiver)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><soap:Fault>'
        f"<soap:Code><soap:Value>soap:{escape(code)}</soap:Value></soap:Code>"
        f'<soap:Reason><soap:Text xml:lang="en">{escape(reason)}</soap:Text></soap:Reason>'
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse(body: bytes) -> Element:
    try:
        return SafeET.fromstring(body)
    except DefusedXmlException:
        raise EnvelopeError("SOAP response uses forbidden XML constructs") from None
    except SafeET.ParseError:
        raise EnvelopeError("SOAP response is not well-formed XML") from None


def _body(root: Element) -> Element:
    if _local(root.tag) != "Envelope":
        raise EnvelopeError("SOAP response has no Envelope")
    for child in root:
        if _local(child.tag) == "Body":
            return child
    raise EnvelopeError("SOAP response has no Body")


def decode_request(body: bytes) -> tuple[dict[str, str], str | None, str | None]:
    """Envelope fields, username and password from a request (simulator side)."""
    root = _parse(body)
    username = password = None
    for el in root.iter():
        name = _local(el.tag)
        if name == "Username":
            username = el.text or ""
        elif name == "Password":
            password = el.text or ""
    return _fields(_body(root), "COREEnvelopeRealTimeRequest"), username, password


def _fields(body: Element, wrapper: str) -> dict[str, str]:
    for child in body:
        if _local(child.tag) == wrapper:
            return {_local(el.tag): el.text or "" for el in child}
    raise EnvelopeError(f"SOAP body has no {wrapper}")


def decode_response(body: bytes) -> CoreResponse:
    """Fields of a `COREEnvelopeRealTimeResponse`; a SOAP Fault becomes ErrorCode/ErrorMessage."""
    soap_body = _body(_parse(body))
    for child in soap_body:
        if _local(child.tag) == "Fault":
            code = reason = ""
            for el in child.iter():
                if _local(el.tag) == "Value" and not code:
                    code = (el.text or "").split(":")[-1]
                elif _local(el.tag) == "Text" and not reason:
                    reason = el.text or ""
            fault = {"ErrorCode": f"SOAPFault.{code or 'Unknown'}", "ErrorMessage": reason}
            return CoreResponse(fault)
    return CoreResponse(_fields(soap_body, "COREEnvelopeRealTimeResponse"))
