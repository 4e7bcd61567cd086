"""Every route of the partner API through its event file (API Gateway REST proxy events)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from cptverify_local.harness import AwsStack
from tests.aws.conftest import PayerScript, api_event, execution_of, inquiry_body

API = "InquiryApiFunction"


def call(stack: AwsStack, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = stack.invoke(API, event)
    body = json.loads(response["body"]) if response.get("body") else {}
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = values[-1]
    return response["statusCode"], body, headers


def post_inquiry(
    stack: AwsStack, body: Any, **headers: str | None
) -> tuple[int, dict[str, Any], dict[str, str]]:  # noqa: E501
    merged: dict[str, str | None] = {"Prefer": None, "Idempotency-Key": None}
    merged.update({k.replace("_", "-"): v for k, v in headers.items()})
    return call(stack, api_event("post_inquiry.json", body=body, headers=merged))


def test_post_inquiry_accepted_with_id_and_links(stack: AwsStack, payer: PayerScript) -> None:
    status, body, headers = post_inquiry(stack, inquiry_body())

    assert status == 202
    assert body["status"] == "PENDING"
    assert body["links"]["self"] == f"/v1/inquiries/{body['inquiry_id']}"
    assert body["links"]["claim_procedures"] == "/v1/claims/CLM-EVT-1/procedures"
    assert headers["location"] == body["links"]["self"]


def test_post_inquiry_invalid_names_the_field(stack: AwsStack) -> None:
    bad = inquiry_body()
    bad["subscriber"]["member_id"] = "CANARY MEMBER 123!"
    bad["procedures"][1]["code"] = "9711"

    status, body, _ = post_inquiry(stack, bad)

    assert status == 422
    fields = {f["field"] for f in body["fields"]}
    assert {"subscriber.member_id", "procedures[1].code"} <= fields
    assert "CANARY" not in json.dumps(body)


def test_post_inquiry_not_json(stack: AwsStack) -> None:
    status, body, _ = post_inquiry(stack, "{not json")

    assert status == 422
    assert body["fields"] == [{"field": "body", "rule": "must be valid JSON"}]


def test_idempotent_repeat_returns_the_same_inquiry(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN the same request twice with one Idempotency-Key, and twice without a key
    first = post_inquiry(stack, inquiry_body(), Idempotency_Key="key-1")[1]
    again = post_inquiry(stack, inquiry_body(), Idempotency_Key="key-1")[1]
    plain = post_inquiry(stack, inquiry_body(claim_id="CLM-2"))[1]
    plain_again = post_inquiry(stack, inquiry_body(claim_id="CLM-2"))[1]

    # THEN each repeat names the same inquiry and only two executions started
    assert again["inquiry_id"] == first["inquiry_id"]
    assert plain_again["inquiry_id"] == plain["inquiry_id"]
    assert len(stack.executions()) == 2


def test_a_repeat_tells_the_inquiry_status_now(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN an inquiry that has completed
    first = post_inquiry(stack, inquiry_body(), Prefer="wait=20")[1]
    assert first["status"] == "COMPLETED"

    # WHEN the same body is sent again, with no Prefer header
    status, again, headers = post_inquiry(stack, inquiry_body())

    # THEN it names the same inquiry with its status now, not the PENDING of the first answer
    assert (status, again["inquiry_id"], again["status"]) == (202, first["inquiry_id"], "COMPLETED")
    assert headers["location"] == f"/v1/inquiries/{first['inquiry_id']}"
    assert len(stack.executions()) == 1


def test_the_same_body_after_a_failure_is_a_new_try(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN an inquiry that ended FAILED (the payer refused the envelope: no retry)
    payer.plan = ["envelope_error"]
    failed = post_inquiry(stack, inquiry_body(), Prefer="wait=20")[1]
    assert failed["status"] == "FAILED"

    # WHEN the same body is sent again without an Idempotency-Key, then once more
    status, retried, _ = post_inquiry(stack, inquiry_body(), Prefer="wait=20")
    repeated = post_inquiry(stack, inquiry_body())[1]

    # THEN the second is a new inquiry that completes, and the third repeats the second
    assert status == 200 and retried["status"] == "COMPLETED"
    assert retried["inquiry_id"] != failed["inquiry_id"]
    assert (repeated["inquiry_id"], repeated["status"]) == (retried["inquiry_id"], "COMPLETED")
    assert len(stack.executions()) == 2


def test_a_failed_inquiry_repeats_under_its_idempotency_key(
    stack: AwsStack, payer: PayerScript
) -> None:
    payer.plan = ["envelope_error"]
    failed = post_inquiry(stack, inquiry_body(), Idempotency_Key="k-f", Prefer="wait=20")[1]

    again = post_inquiry(stack, inquiry_body(), Idempotency_Key="k-f")[1]

    assert (again["inquiry_id"], again["status"]) == (failed["inquiry_id"], "FAILED")
    assert len(stack.executions()) == 1


def test_same_key_with_another_body_conflicts(stack: AwsStack, payer: PayerScript) -> None:
    post_inquiry(stack, inquiry_body(), Idempotency_Key="key-2")

    status, body, _ = post_inquiry(stack, inquiry_body(claim_id="CLM-X"), Idempotency_Key="key-2")

    assert status == 409
    assert body["error"] == "idempotency_key_reused"


def test_prefer_wait_answers_200_with_results(stack: AwsStack, payer: PayerScript) -> None:
    status, body, headers = post_inquiry(stack, inquiry_body(), Prefer="wait=20")

    assert status == 200
    assert body["status"] == "COMPLETED"
    assert [r["code"] for r in body["results"]] == ["99213", "97110"]
    assert headers["preference-applied"] == "wait=20"


def test_get_inquiry_and_claim_routes(stack: AwsStack, payer: PayerScript) -> None:
    inquiry_id = post_inquiry(stack, inquiry_body())[1]["inquiry_id"]
    execution_of(stack, inquiry_id)

    status, view, _ = call(stack, api_event("get_inquiry.json", path_parameters={"id": inquiry_id}))
    assert status == 200 and view["status"] == "COMPLETED" and view["attempts"] == 1
    assert len(view["results"]) == 2

    status, claim, _ = call(
        stack, api_event("get_claim_procedures.json", path_parameters={"claim_id": "CLM-EVT-1"})
    )
    assert status == 200 and [p["code"] for p in claim["procedures"]] == ["97110", "99213"]

    status, one, _ = call(
        stack,
        api_event(
            "get_claim_procedure.json", path_parameters={"claim_id": "CLM-EVT-1", "cpt": "99213"}
        ),
    )
    assert status == 200 and [p["line"] for p in one["procedures"]] == [1]


def test_another_tenants_ids_are_not_found(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN a result of tenant "local" and a second partner's key
    inquiry_id = post_inquiry(stack, inquiry_body())[1]["inquiry_id"]
    execution_of(stack, inquiry_id)
    stack.add_tenant("other", "other-key-id")

    # WHEN the other partner asks for them
    other = "other-key-id"
    claim = call(
        stack,
        api_event(
            "get_claim_procedures.json",
            path_parameters={"claim_id": "CLM-EVT-1"},
            api_key_id=other,
        ),
    )
    inquiry = call(
        stack, api_event("get_inquiry.json", path_parameters={"id": inquiry_id}, api_key_id=other)
    )

    # THEN both are 404, exactly as for ids that do not exist
    assert claim[0] == 404 and inquiry[0] == 404


def test_resubmit_a_rejected_inquiry(stack: AwsStack, payer: PayerScript) -> None:
    # GIVEN an inquiry rejected for an unknown member id
    body = inquiry_body()
    body["subscriber"]["member_id"] = "NOSUCH999"
    rejected_id = post_inquiry(stack, body)[1]["inquiry_id"]
    execution_of(stack, rejected_id)

    # WHEN it is resubmitted with the right member id
    event = api_event(
        "resubmit_inquiry.json",
        path_parameters={"id": rejected_id},
        body={"subscriber": {"member_id": "CANARYMEMBER123"}},
    )
    status, accepted, _ = call(stack, event)

    # THEN a new inquiry, linked both ways, completes
    assert status == 202
    new_id = accepted["inquiry_id"]
    assert execution_of(stack, new_id)["status"] == "SUCCEEDED"
    view = call(stack, api_event("get_inquiry.json", path_parameters={"id": new_id}))[1]
    old = call(stack, api_event("get_inquiry.json", path_parameters={"id": rejected_id}))[1]
    assert view["status"] == "COMPLETED" and view["resubmit_of"] == rejected_id
    assert old["status"] == "REJECTED" and old["resubmitted_as"] == new_id

    # AND a second resubmission, or one of a completed inquiry, is a conflict
    assert call(stack, event)[0] == 409
    again = api_event("resubmit_inquiry.json", path_parameters={"id": new_id}, body={})
    assert call(stack, again)[0] == 409


def test_resubmit_invalid_correction_names_the_field(stack: AwsStack) -> None:
    event = api_event(
        "resubmit_inquiry.json",
        path_parameters={"id": "20261203T090000-0123456789ab"},
        body={"subscriber": {"birth_date": "19010203"}},
    )
    status, body, _ = call(stack, event)

    assert status == 422
    assert body["fields"][0]["field"] == "subscriber.birth_date"
    assert "19010203" not in json.dumps(body)


def test_unknown_inquiry_is_404(stack: AwsStack) -> None:
    status, body, _ = call(stack, api_event("get_inquiry.json"))
    assert status == 404 and body["error"] == "not_found"


def test_oversized_body_is_413(stack: AwsStack) -> None:
    status, body, _ = post_inquiry(stack, "x" * (70 * 1024))
    assert status == 413 and body["error"] == "payload_too_large"


def test_missing_or_unbound_api_key(stack: AwsStack) -> None:
    assert call(stack, api_event("get_inquiry.json", api_key_id=None))[0] == 401
    assert call(stack, api_event("get_inquiry.json", api_key_id="stranger"))[0] == 403


def test_post_response_parses_a_271(stack: AwsStack) -> None:
    status, body, _ = call(stack, api_event("post_response.json"))

    assert status == 200
    patient = body["transactions"][0]["patients"][0]
    assert [p["code"] for p in patient["procedures"]] == ["99213", "97110"]


def test_post_response_bad_271_is_422_without_data(stack: AwsStack) -> None:
    status, body, _ = call(stack, api_event("post_response.json", body="NM1*IL*1*CANARYLAST~"))

    assert status == 422 and body["error"] == "invalid_271"
    assert "CANARYLAST" not in json.dumps(body)


@pytest.mark.parametrize("code", ["9921X", "HC:ABCDE", "12345:1"])
def test_post_response_takes_only_code_shapes_inquiries_take(stack: AwsStack, code: str) -> None:
    status, body, _ = call(stack, api_event("post_response.json", query={"cpt": [code]}))

    assert status == 422 and body["fields"][0]["field"] == "query.cpt[0]"


def test_post_response_bad_cpt_names_the_query_field(stack: AwsStack) -> None:
    status, body, _ = call(stack, api_event("post_response.json", query={"cpt": ["CANARY12"]}))

    assert status == 422
    assert body["fields"][0]["field"] == "query.cpt[0]"
    rule = body["fields"][0]["rule"]
    assert rule.startswith("must be a CPT code") and "HC:99213:25" in rule
    assert "^" not in rule and "pattern" not in rule and "CANARY12" not in json.dumps(body)


def test_a_short_identifier_is_counted_in_characters(stack: AwsStack) -> None:
    body = inquiry_body(payer={"id": "A", "name": "ACME"})
    body["subscriber"] = {**body["subscriber"], "first_name": " "}

    status, answer, _ = post_inquiry(stack, body)

    assert status == 422
    rules = {f["field"]: f["rule"] for f in answer["fields"]}
    assert rules["payer.id"] == "String should have at least 2 characters"
    assert rules["subscriber.first_name"] == "String should have at least 1 character"
    assert "items" not in json.dumps(answer)


def test_a_payer_outside_the_registry_is_named_and_nothing_is_stored(stack: AwsStack) -> None:
    status, answer, _ = post_inquiry(stack, inquiry_body(payer={"id": "NOSUCH99", "name": "X"}))

    assert status == 422
    assert answer["fields"] == [
        {
            "field": "payer.id",
            "rule": "not a payer this service is set up for (see the payer registry)",
        }
    ]
    items = stack.session.resource("dynamodb").Table(stack.table_name).scan()["Items"]
    assert not [i for i in items if i.get("payer_id") == "NOSUCH99"]


def test_every_access_is_audited_without_data(
    stack: AwsStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cptverify-audit")
    bad = inquiry_body()
    bad["subscriber"]["member_id"] = "CANARY MEMBER!"

    post_inquiry(stack, bad)
    call(stack, api_event("get_inquiry.json", api_key_id=None))

    records = [r for r in caplog.records if getattr(r, "audit", False)]
    assert [(r.route, r.status, r.tenant) for r in records] == [  # type: ignore[attr-defined]
        ("/v1/inquiries", 422, "local"),
        ("/v1/inquiries/{id}", 401, None),
    ]
    assert records[1].ids == {"id": "20261203T090000-0123456789ab"}  # type: ignore[attr-defined]
    assert "CANARY" not in json.dumps([r.__dict__ for r in records], default=str)


def test_wait_gives_up_at_the_deadline(stack: AwsStack) -> None:
    from cptverify.aws import store
    from cptverify.service import inquiries

    # GIVEN an inquiry nothing is working on
    store.put_inquiry(
        {"tenant": "local", "inquiry_id": "idle-1", "claim_id": "C-1", "payer_id": "ACME"}
    )
    now = [0.0]

    # WHEN a caller waits 3 s (on a fake clock)
    current = inquiries.wait_for(
        "local", "idle-1", 3, sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0]
    )

    # THEN it gets the inquiry as it stands once the time is up
    assert current["status"] == "PENDING" and 3.0 <= now[0] < 3.5


def test_get_batch_lists_ignored_columns_beside_presigned_report_urls(stack: AwsStack) -> None:
    # GIVEN a finished batch whose schedule had two header cells that name no column
    from cptverify.aws import keys

    prefix = "results/local/bview1/"
    stack.session.resource("dynamodb").Table(stack.table_name).put_item(
        Item={
            "pk": keys.batch_pk("local", "bview1"),
            "sk": keys.BATCH_SK,
            "batch_id": "bview1",
            "status": "DONE",
            "source_key": "schedules/local/day.csv",
            "rows": 2,
            "inquiries": 1,
            "completed": 1,
            "ignored_columns": ["Notes", "SSN"],
            "report_csv": prefix + "report.csv",
            "report_json": prefix + "report.json",
            "bucket": stack.bucket_name,
        }
    )

    # WHEN the partner reads the batch
    status, body, _ = call(stack, api_event("get_batch.json", path_parameters={"id": "bview1"}))

    # THEN it lists them, and the reports are linked as presigned S3 GETs (deployed behaviour)
    assert status == 200
    assert body["ignored_columns"] == ["Notes", "SSN"]
    assert body["counts"]["rows"] == 2 and body["progress"] == {"finished": 1, "total": 1}
    csv_url = body["reports"]["csv"]["url"]
    assert csv_url.startswith("https://") and "Signature" in csv_url
    assert body["reports"]["csv"]["key"] == prefix + "report.csv"
