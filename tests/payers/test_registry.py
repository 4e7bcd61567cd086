"""The payer registry: shipped file, validation errors naming payer and field, SSM, deployed."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from cptverify.payers import registry
from cptverify.payers.errors import PayerConfigError
from cptverify.payers.registry import load_registry, parse_registry

ONE = """
payers:
  - id: P1
    name: PAYER ONE
    transport: mime
    path: /core/mime
    sender_id: S
    receiver_id: R
"""


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    load_registry.cache_clear()
    for name in (
        "AWS_LAMBDA_FUNCTION_NAME",
        registry.REGISTRY_PARAMETER_ENV,
        registry.REGISTRY_FILE_ENV,
        registry.BASE_URL_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    yield
    load_registry.cache_clear()


def test_shipped_registry_has_ten_payers_on_the_simulator():
    reg = load_registry()
    assert len(reg.payers) == 10
    assert {p.transport for p in reg.payers} == {"mime", "soap"}
    assert all(p.url().startswith("http://127.0.0.1:8790/core/") for p in reg.payers)
    assert reg.get("ONECODE").max_procedures_per_inquiry == 1


def test_base_url_follows_the_environment(monkeypatch):
    monkeypatch.setenv(registry.BASE_URL_ENV, "http://127.0.0.1:9999")
    assert load_registry().get("ACME").url() == "http://127.0.0.1:9999/core/mime"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("transport: mime", "transport: fax"), "payer P1 field transport"),
        (("path: /core/mime", "path: core"), "payer P1 field entry"),
        (("path: /core/mime", "endpoint: http://payer.example.com/x"), "https, or http to a loop"),
        (
            ("    receiver_id: R\n", "    receiver_id: R\n    max_concurrent_requests: 0\n"),
            "payer P1 field max_concurrent_requests",
        ),
        (
            ("    receiver_id: R\n", "    receiver_id: R\n    colour: red\n"),
            "payer P1 field colour",
        ),
    ],
)
def test_errors_name_payer_and_field(change, expected):
    with pytest.raises(PayerConfigError) as info:
        parse_registry(ONE.replace(*change))
    assert expected in str(info.value)


def test_duplicate_ids_and_unknown_payer():
    with pytest.raises(PayerConfigError, match="duplicate payer id P1"):
        parse_registry(ONE + ONE.replace("payers:\n", ""))
    with pytest.raises(PayerConfigError, match="payer NOPE is not in the payer registry"):
        parse_registry(ONE).get("NOPE")


def test_deployed_without_parameter_fails_at_start(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "payer-exchange")
    with pytest.raises(PayerConfigError, match=registry.REGISTRY_PARAMETER_ENV):
        load_registry()


@mock_aws
def test_registry_from_ssm_parameter(monkeypatch):
    boto3.client("ssm").put_parameter(
        Name="/cptverify/payers",
        Type="String",
        Value=ONE.replace("path: /core/mime", "endpoint: https://payer.example.com/core"),
    )
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "payer-exchange")
    monkeypatch.setenv(registry.REGISTRY_PARAMETER_ENV, "/cptverify/payers")
    assert load_registry().get("P1").url() == "https://payer.example.com/core"


def test_registry_file_from_env(tmp_path, monkeypatch):
    path = tmp_path / "payers.yaml"
    path.write_text(ONE, encoding="utf-8")
    monkeypatch.setenv(registry.REGISTRY_FILE_ENV, str(path))
    assert load_registry().ids() == ["P1"]


def test_a_changed_registry_is_seen_without_a_restart(monkeypatch, tmp_path):
    path = tmp_path / "payers.yaml"
    path.write_text(ONE, encoding="utf-8")
    monkeypatch.setenv(registry.REGISTRY_FILE_ENV, str(path))
    first = load_registry()
    assert first.ids() == ["P1"]
    assert load_registry() is first  # unchanged text: not parsed again

    path.write_text(ONE + ONE.replace("P1", "P2").replace("payers:\n", ""), encoding="utf-8")
    assert load_registry().ids() == ["P1", "P2"]
