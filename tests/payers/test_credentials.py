"""Credentials: environment, local file, simulator default, Secrets Manager when deployed."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from cptverify.payers.credentials import SIMULATOR_USERNAME, get_credentials
from cptverify.payers.errors import PayerConfigError
from cptverify.payers.registry import get_payer


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "AWS_LAMBDA_FUNCTION_NAME",
        "CPTVERIFY_CREDENTIALS_FILE",
        "CPTVERIFY_PAYER_ACME_USERNAME",
        "CPTVERIFY_PAYER_ACME_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)


def test_loopback_payer_gets_the_simulator_credential():
    assert get_credentials(get_payer("ACME")).username == SIMULATOR_USERNAME


def test_environment_then_file(monkeypatch, tmp_path):
    path = tmp_path / "creds.yaml"
    path.write_text("ACME: {username: fileuser, password: filepass}\n", encoding="utf-8")
    monkeypatch.setenv("CPTVERIFY_CREDENTIALS_FILE", str(path))
    assert get_credentials(get_payer("ACME")).username == "fileuser"
    monkeypatch.setenv("CPTVERIFY_PAYER_ACME_USERNAME", "envuser")
    monkeypatch.setenv("CPTVERIFY_PAYER_ACME_PASSWORD", "envpass")
    creds = get_credentials(get_payer("ACME"))
    assert creds.username == "envuser"
    assert "envpass" not in repr(creds)


def test_remote_payer_without_credentials_is_a_config_error():
    payer = get_payer("ACME").model_copy(update={"path": None, "endpoint": "https://p.example"})
    with pytest.raises(PayerConfigError, match="payer ACME: no credentials"):
        get_credentials(payer)


@mock_aws
def test_deployed_reads_secrets_manager(monkeypatch):
    boto3.client("secretsmanager").create_secret(
        Name="cptverify/payers/ACME",
        SecretString=json.dumps({"username": "prod", "password": "s3cret"}),
    )
    payer = get_payer("ACME")  # from the shipped registry, read before "deploying"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "payer-exchange")
    creds = get_credentials(payer)
    assert (creds.username, creds.password) == ("prod", "s3cret")
