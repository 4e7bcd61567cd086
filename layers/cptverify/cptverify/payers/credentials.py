"""Payer credentials (CORE UserName/Password) for one payer.

Deployed: the payer's `secret_name` in AWS Secrets Manager, read through Powertools parameters and
cached for five minutes; the secret is JSON `{"username": ..., "password": ...}`.
Locally, in order: env `CPTVERIFY_PAYER_<ID>_USERNAME` / `_PASSWORD` (ID upper-cased, non
alphanumerics as `_`), then a YAML file named by `CPTVERIFY_CREDENTIALS_FILE` mapping payer id to
`{username, password}`, then (only for loopback endpoints) the simulator's fixed test credential.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import yaml

from cptverify.payers.errors import PayerConfigError
from cptverify.payers.registry import PayerConfig, is_deployed

SIMULATOR_USERNAME = "cptverify-sim"
SIMULATOR_PASSWORD = "sim-only-not-a-secret"
CREDENTIALS_FILE_ENV = "CPTVERIFY_CREDENTIALS_FILE"
SECRET_MAX_AGE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


def _env_prefix(payer_id: str) -> str:
    return "CPTVERIFY_PAYER_" + re.sub(r"[^A-Z0-9]", "_", payer_id.upper()) + "_"


def _from_mapping(raw: object, payer_id: str, source: str) -> Credentials:
    if isinstance(raw, dict) and isinstance(raw.get("username"), str):
        password = raw.get("password")
        if isinstance(password, str):
            return Credentials(raw["username"], password)
    raise PayerConfigError(f"payer {payer_id}: {source} lacks username and password")


def get_credentials(payer: PayerConfig) -> Credentials:
    """The credential to present to this payer (see module docstring for the order)."""
    if payer.secret_name and (is_deployed() or os.environ.get("CPTVERIFY_USE_SECRETS") == "1"):
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(payer.secret_name, max_age=SECRET_MAX_AGE_SECONDS)
        try:
            raw = json.loads(value) if isinstance(value, str | bytes) else value
        except ValueError:
            raise PayerConfigError(f"payer {payer.id}: secret is not JSON") from None
        return _from_mapping(raw, payer.id, "secret")

    prefix = _env_prefix(payer.id)
    user, password = os.environ.get(prefix + "USERNAME"), os.environ.get(prefix + "PASSWORD")
    if user and password:
        return Credentials(user, password)

    path = os.environ.get(CREDENTIALS_FILE_ENV)
    if path:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        if isinstance(data, dict) and payer.id in data:
            return _from_mapping(data[payer.id], payer.id, "credentials file entry")

    if not is_deployed() and payer.is_loopback():
        return Credentials(SIMULATOR_USERNAME, SIMULATOR_PASSWORD)
    raise PayerConfigError(f"payer {payer.id}: no credentials configured")
