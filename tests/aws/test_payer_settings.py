"""Payer settings that cannot make a 270: refused by the registry, or a data-free FAILED."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cptverify.aws import store
from cptverify_local.harness import AwsStack
from tests.aws.conftest import CANARIES, PayerScript, execution_of, inquiry_body, submit

SHIPPED = Path(__file__).resolve().parents[2] / "layers/cptverify/cptverify/data/payers.yaml"


@pytest.mark.parametrize("field", ["sender_id", "receiver_id"])
def test_registry_refuses_an_isa_id_longer_than_15(field: str) -> None:
    from cptverify.payers.errors import PayerConfigError
    from cptverify.payers.registry import parse_registry

    # GIVEN a payer whose interchange id has 16 characters
    text = SHIPPED.read_text(encoding="utf-8").replace(
        f"{field}: {'CPTVERIFY' if field == 'sender_id' else 'ACME'}\n", f"{field}: {'Y' * 16}\n", 1
    )

    # WHEN the registry is read THEN the error names the payer and the field
    with pytest.raises(PayerConfigError) as raised:
        parse_registry(text, "test registry")
    assert f"payer ACME field {field}" in str(raised.value)
    assert "15 characters" in str(raised.value)


def test_registry_takes_an_isa_id_of_15() -> None:
    from cptverify.payers.registry import parse_registry

    text = SHIPPED.read_text(encoding="utf-8").replace(
        "sender_id: CPTVERIFY\n", f"sender_id: {'S' * 15}\n", 1
    )
    assert parse_registry(text).get("ACME").sender_id == "S" * 15


@pytest.fixture
def one_letter_sender(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ACME with a one-letter sender id: a valid ISA06, but too short to be GS02."""
    from cptverify.payers import registry

    text = SHIPPED.read_text(encoding="utf-8").replace(
        "sender_id: CPTVERIFY\n", "sender_id: X\n", 1
    )
    path = tmp_path / "payers.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CPTVERIFY_PAYER_REGISTRY_FILE", str(path))
    registry.load_registry.cache_clear()


def test_a_270_the_builder_refuses_ends_failed_without_data(
    one_letter_sender: None, stack: AwsStack, payer: PayerScript
) -> None:
    # GIVEN payer settings the 270 builder refuses
    inquiry_id = submit(stack, inquiry_body())

    # WHEN the execution runs
    described = execution_of(stack, inquiry_id)

    # THEN it is recorded FAILED with a data-free reason, without asking the payer or retrying
    assert described["status"] == "FAILED"
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["status"] == "FAILED" and item["attempts"] == 1
    assert item["reason"]["error"] == "InquiryNotBuildable"
    assert "270" in item["reason"]["message"]
    assert payer.calls == 0
    seen = json.dumps([item, stack.history(described["executionArn"])], default=str)
    assert not [c for c in CANARIES if c in seen]
