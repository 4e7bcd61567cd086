"""TLS verification is always on, http is loopback-only, and error classes say when to retry."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cptverify.payers.connector import PayerConnector, retry_after_seconds
from cptverify.payers.credentials import Credentials
from cptverify.payers.errors import (
    ALL_ERROR_NAMES,
    PayerBusy,
    PayerRejected,
    PayerTimeout,
    PayerUnavailable,
    ResponseInvalid,
)
from cptverify.payers.metrics import MemoryPayerMetrics
from cptverify.payers.registry import ClientCertificate, get_payer


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def untrusted_tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """A TLS listener with a self-signed certificate (no client trusts it)."""
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(10)
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], cert_file, key_file
    listener.close()
    thread.join(timeout=5)


def test_untrusted_certificate_is_a_tls_failure(untrusted_tls_server):
    port, cert_file, key_file = untrusted_tls_server
    payer = get_payer("ACME").model_copy(
        update={
            "path": None,
            "endpoint": f"https://localhost:{port}/core/mime",
            "client_certificate": ClientCertificate(
                cert_file=str(cert_file), key_file=str(key_file)
            ),
        }
    )
    connector = PayerConnector(
        payer, credentials=Credentials("u", "p"), metrics=MemoryPayerMetrics()
    )
    with connector, pytest.raises(PayerUnavailable) as info:
        connector.exchange("ISA")
    assert info.value.code == "tls"


def test_plain_http_to_a_remote_host_is_refused():
    with pytest.raises(ValueError, match="https, or http to a loopback"):
        PayerConnector(get_payer("ACME"), base_url="http://10.1.2.3:8790")


def test_error_names_and_retry_rules():
    assert set(ALL_ERROR_NAMES) >= {
        "PayerTimeout",
        "PayerUnavailable",
        "PayerBusy",
        "PayerRejected",
        "ResponseInvalid",
        "PayerThrottled",
    }
    assert PayerTimeout("x").least_delay_seconds == 90 and PayerTimeout("x").retryable
    assert not PayerRejected("x").retryable
    assert ResponseInvalid("x").retryable
    assert PayerBusy.from_aaa("42", "Y").least_delay_seconds == 60
    assert PayerBusy.from_aaa("80", "N").least_delay_seconds == 300
    assert PayerBusy.from_aaa("42", None).least_delay_seconds == 60
    waiting = PayerBusy.from_aaa("42", "W")
    assert not waiting.retryable and waiting.error_name == "PayerBusy"


def test_retry_after_in_seconds_or_http_date():
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Thu, 03 Dec 2026 16:00:30 GMT", now=1796313600.0) == 30
