"""The payer registry: who we can ask, over which CORE transport, and how hard.

Loaded from the YAML file shipped in the layer (`cptverify/data/payers.yaml`), or from an SSM
parameter named by `CPTVERIFY_PAYER_REGISTRY_PARAMETER` (read through Powertools parameters,
cached). Validated by pydantic at load; errors name the payer and the field.

The shipped file points every payer at the local simulator (`base_url` default
`http://127.0.0.1:8790`, overridable with `CPTVERIFY_PAYER_BASE_URL`). When deployed (Lambda) with
no registry parameter, loading fails at once instead of calling loopback.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cptverify.payers.errors import PayerConfigError

# libyaml's safe loader when PyYAML was built with it (the Lambda wheel is): the same documents
# and errors as `yaml.safe_load`, read about 30x faster, which counts on a cold start.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DEFAULT_BASE_URL = "http://127.0.0.1:8790"
BASE_URL_ENV = "CPTVERIFY_PAYER_BASE_URL"
REGISTRY_PARAMETER_ENV = "CPTVERIFY_PAYER_REGISTRY_PARAMETER"
REGISTRY_FILE_ENV = "CPTVERIFY_PAYER_REGISTRY_FILE"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class ClientCertificate(BaseModel):
    """A client certificate for CORE X.509 authentication (paths to PEM files)."""

    model_config = ConfigDict(extra="forbid")

    cert_file: str
    key_file: str | None = None


class CircuitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failure_threshold: int = Field(default=5, ge=1)
    open_seconds: float = Field(default=60, gt=0)


class PayerConfig(BaseModel):
    """One payer's connection and inquiry settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=60)
    transport: Literal["mime", "soap"]
    endpoint: str | None = None
    path: str | None = None
    # ISA06 and ISA08 take at most 15 characters; a longer id could never be sent.
    sender_id: str = Field(min_length=1, max_length=15)
    receiver_id: str = Field(min_length=1, max_length=15)
    secret_name: str | None = None
    connect_timeout_seconds: float = Field(default=5, gt=0, le=60)
    read_timeout_seconds: float = Field(default=60, gt=0, le=300)
    max_concurrent_requests: int = Field(default=5, ge=1, le=1000)
    accepts_procedure_codes: bool = True
    max_procedures_per_inquiry: int = Field(default=5, ge=1, le=99)
    accepts_gender: bool = True
    client_certificate: ClientCertificate | None = None
    circuit: CircuitSettings = Field(default_factory=CircuitSettings)

    @model_validator(mode="after")
    def _endpoint_or_path(self) -> PayerConfig:
        if (self.endpoint is None) == (self.path is None):
            raise ValueError("give exactly one of endpoint or path")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError("path must start with '/'")
        if self.endpoint is not None:
            check_url(self.endpoint)
        return self

    def url(self, base_url: str | None = None) -> str:
        """The endpoint, or the path under the base URL (env `CPTVERIFY_PAYER_BASE_URL`)."""
        if self.endpoint is not None:
            return self.endpoint
        base = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        return check_url(base.rstrip("/") + (self.path or ""))

    def is_loopback(self, base_url: str | None = None) -> bool:
        return is_loopback_url(self.url(base_url))


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def check_url(url: str) -> str:
    """Accept https anywhere and http only to loopback; raise ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_url(url):
        return url
    raise ValueError("endpoint must be https, or http to a loopback address")


class PayerRegistry(BaseModel):
    """Every configured payer, by id."""

    model_config = ConfigDict(extra="forbid")

    payers: list[PayerConfig]

    @model_validator(mode="after")
    def _unique_ids(self) -> PayerRegistry:
        seen: set[str] = set()
        for payer in self.payers:
            if payer.id in seen:
                raise ValueError(f"duplicate payer id {payer.id}")
            seen.add(payer.id)
        return self

    def get(self, payer_id: str) -> PayerConfig:
        for payer in self.payers:
            if payer.id == payer_id:
                return payer
        raise PayerConfigError(f"payer {payer_id} is not in the payer registry")

    def ids(self) -> list[str]:
        return [p.id for p in self.payers]


def _describe(error: ValidationError, raw: Any) -> str:
    """Name the payer (by id when it has one) and the field for each validation error."""
    parts = []
    for item in error.errors():
        loc = list(item["loc"])
        where = ".".join(str(x) for x in loc) or "registry"
        if len(loc) >= 2 and loc[0] == "payers" and isinstance(loc[1], int):
            entries = raw.get("payers") if isinstance(raw, dict) else None
            entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
            name = entry.get("id") if isinstance(entry, dict) else None
            field = ".".join(str(x) for x in loc[2:]) or "entry"
            where = f"payer {name or '#' + str(loc[1])} field {field}"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_registry(text: str, source: str = "registry") -> PayerRegistry:
    """Parse and validate registry YAML (or JSON) text; errors name payer and field."""
    try:
        raw = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise PayerConfigError(f"{source}: not valid YAML{line}") from None
    if not isinstance(raw, dict):
        raise PayerConfigError(f"{source}: expected a mapping with a 'payers' list")
    try:
        return PayerRegistry.model_validate(raw)
    except ValidationError as exc:
        raise PayerConfigError(f"{source}: {_describe(exc, raw)}") from None


def is_deployed() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _registry_text() -> tuple[str, str]:
    parameter = os.environ.get(REGISTRY_PARAMETER_ENV)
    if parameter:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_parameter(parameter, max_age=300)
        return str(value), f"SSM parameter {parameter}"
    if is_deployed():
        raise PayerConfigError(
            f"no payer registry: set {REGISTRY_PARAMETER_ENV} to an SSM parameter holding the "
            "registry (the shipped registry points at the local simulator on loopback)"
        )
    path = os.environ.get(REGISTRY_FILE_ENV)
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    shipped = resources.files("cptverify").joinpath("data/payers.yaml")
    return shipped.read_text(encoding="utf-8"), "cptverify/data/payers.yaml"


class _RegistryLoader:
    """Loads the registry as configured now: the SSM parameter (Powertools caches it for five
    minutes, so a warm Lambda sees an update within minutes), the file named by the environment,
    or the shipped file. The text is parsed again only when it has changed."""

    def __init__(self) -> None:
        self._parsed: tuple[str, PayerRegistry] | None = None

    def __call__(self) -> PayerRegistry:
        text, source = _registry_text()
        parsed = self._parsed
        if parsed is None or parsed[0] != text:
            parsed = self._parsed = (text, parse_registry(text, source))
        return parsed[1]

    def cache_clear(self) -> None:
        """Forget the parsed registry (the SSM value stays in Powertools' own cache)."""
        self._parsed = None


load_registry = _RegistryLoader()


def get_payer(payer_id: str) -> PayerConfig:
    return load_registry().get(payer_id)
