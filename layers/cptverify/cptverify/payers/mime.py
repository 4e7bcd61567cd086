"""CORE HTTP MIME multipart transport: build the form body, read the multipart answer.

The body is built by hand (one bytes join) rather than through a generic form encoder: the fields
are fixed, small and known, and this keeps our envelope work cheap beside the HTTP exchange.
"""

from __future__ import annotations

import re
import uuid

from cptverify.payers.core import CoreRequest, CoreResponse, EnvelopeError

_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_NAME_RE = re.compile(rb'name="([^"]*)"', re.IGNORECASE)


def encode_fields(fields: dict[str, str], boundary: str | None = None) -> tuple[bytes, str]:
    """Encode form fields as multipart/form-data; returns (body, content type)."""
    boundary = boundary or uuid.uuid4().hex
    dash = b"--" + boundary.encode("ascii")
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(dash)
        parts.append(b'\r\nContent-Disposition: form-data; name="' + name.encode("ascii") + b'"')
        parts.append(b"\r\n\r\n")
        parts.append(value.encode("utf-8"))
        parts.append(b"\r\n")
    parts.append(dash + b"--\r\n")
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def encode_request(request: CoreRequest, boundary: str | None = None) -> tuple[bytes, str]:
    """The CORE form: envelope fields plus UserName and Password."""
    fields = request.fields()
    fields["UserName"] = request.username
    fields["Password"] = request.password
    return encode_fields(fields, boundary)


def decode_fields(body: bytes, content_type: str | None) -> dict[str, str]:
    """Decode a multipart/form-data body into its fields (last one wins on repeats)."""
    match = _BOUNDARY_RE.search(content_type or "")
    if not content_type or "multipart/" not in content_type.lower() or match is None:
        raise EnvelopeError("response is not multipart form data")
    dash = b"--" + match.group(1).strip().encode("ascii", "replace")
    chunks = body.split(dash)
    if len(chunks) < 3:
        raise EnvelopeError("multipart response has no parts")
    fields: dict[str, str] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, value = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise EnvelopeError("multipart part without headers")
        name = _NAME_RE.search(head)
        if name is None:
            raise EnvelopeError("multipart part without a field name")
        if value.endswith(b"\r\n"):
            value = value[:-2]
        try:
            fields[name.group(1).decode("ascii")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise EnvelopeError("multipart field is not UTF-8") from None
    else:
        raise EnvelopeError("multipart response ends without its closing boundary")
    return fields


def decode_response(body: bytes, content_type: str | None) -> CoreResponse:
    return CoreResponse(decode_fields(body, content_type))
