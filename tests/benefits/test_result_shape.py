"""The per-procedure dict: exact keys, strings for amounts, and a lossless round trip."""

from __future__ import annotations

import json

from cptverify.benefits.result import procedure_result_from_dict, procedure_result_to_dict

from .helpers import aaa, eb, patient, resolve_one


def test_keys_and_round_trip() -> None:
    p = patient(
        eb("1", None, "30"),
        eb("B", "IND", "98", period="27", amount="10", net="Y", msgs=("OFFICE",), pos=("11",)),
        eb("A", "IND", "98", percent=".2", net="N"),
        eb("C", "IND", "30", period="23", amount="500", net="Y"),
        eb("C", "IND", "30", period="29", amount="120", net="Y"),
        eb("F", "IND", "98", period="22", qty=("VS", "20"), auth="Y", net="Y"),
        eb("B", "IND", "98", amount="5", errors=(aaa("2110C", "AG"),)),
    )
    result = resolve_one(p, allowed="95.00", network="in")
    data = procedure_result_to_dict(result)
    assert list(data) == [
        "code", "qualifier", "modifiers", "status", "match", "service_types", "payer_calls",
        "networks", "rejections", "estimate", "notes",
    ]  # fmt: skip
    assert list(data["networks"]) == ["in", "out", "both", "unspecified"]
    assert list(data["networks"]["in"]) == [
        "copay", "coinsurance", "deductible", "out_of_pocket", "limits",
        "authorization_required", "messages",
    ]  # fmt: skip
    assert data["networks"]["in"]["copay"][0]["amount"] == "10.00"
    assert data["networks"]["out"]["coinsurance"][0]["percent"] == "0.2"
    assert list(data["estimate"]) == [
        "allowed_amount", "network", "patient_pays", "plan_pays", "assumptions", "missing",
    ]  # fmt: skip
    text = json.dumps(data)
    assert procedure_result_to_dict(procedure_result_from_dict(json.loads(text))) == data
