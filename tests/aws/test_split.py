"""A visit with more procedures than the payer takes in one 270: several payer calls, one answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from cptverify.aws import archive, store
from cptverify.aws.clients import s3
from cptverify.aws.settings import settings
from cptverify_local.harness import AwsStack
from tests.aws.conftest import PayerScript, execution_of, inquiry_body, submit

SHIPPED = Path(__file__).resolve().parents[2] / "layers/cptverify/cptverify/data/payers.yaml"
CODES = ["99213", "97110", "97140", "97530", "99214"]


@pytest.fixture
def limit_two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped registry with ACME taking at most two procedures per 270."""
    from cptverify.payers import registry

    text = SHIPPED.read_text(encoding="utf-8").replace(
        "max_procedures_per_inquiry: 5", "max_procedures_per_inquiry: 2", 1
    )
    path = tmp_path / "payers.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CPTVERIFY_PAYER_REGISTRY_FILE", str(path))
    registry.load_registry.cache_clear()


def test_five_procedures_over_a_limit_of_two_take_three_calls(
    limit_two: None, stack: AwsStack, payer: PayerScript
) -> None:
    # GIVEN five procedures for a payer that takes two per 270
    procedures = [{"code": c} for c in CODES]
    inquiry_id = submit(stack, inquiry_body(procedures=procedures))

    # WHEN the execution runs
    described = execution_of(stack, inquiry_id)

    # THEN three 270s went out, each answer archived, every CPT has a result saying so
    assert described["status"] == "SUCCEEDED"
    assert payer.calls == 3
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["status"] == "COMPLETED"
    assert item["payer_calls"] == 3 and item["results_count"] == 5
    results = store.claim_results("local", "CLM-EVT-1")
    assert sorted(r["code"] for r in results) == sorted(CODES)
    assert {r["payer_calls"] for r in results} == {3}
    assert sorted(r["line"] for r in results) == [1, 2, 3, 4, 5]
    listed = s3().list_objects_v2(
        Bucket=settings().archive_bucket, Prefix=archive.inquiry_prefix("local", inquiry_id)
    )
    names = sorted(
        o["Key"].rsplit("/", 2)[-2] + "/" + o["Key"].rsplit("/", 1)[-1]
        for o in listed.get("Contents", [])
        if "attempt-" in o["Key"]
    )
    assert names == [f"attempt-1/{p}.{k}" for p in range(3) for k in ("270", "271")]


def _archived(inquiry_id: str) -> list[str]:
    """`attempt-N/PART.KIND` of every archived 270 and 271 of the inquiry, sorted."""
    listed = s3().list_objects_v2(
        Bucket=settings().archive_bucket, Prefix=archive.inquiry_prefix("local", inquiry_id)
    )
    return sorted(
        o["Key"].rsplit("/", 2)[-2] + "/" + o["Key"].rsplit("/", 1)[-1]
        for o in listed.get("Contents", [])
        if "attempt-" in o["Key"]
    )


def test_a_failed_second_call_retries_only_the_unanswered_parts(
    limit_two: None, stack: AwsStack, payer: PayerScript
) -> None:
    # GIVEN the second of three calls fails once
    payer.plan = [None, "http_500"]
    inquiry_id = submit(stack, inquiry_body(procedures=[{"code": c} for c in CODES]))

    # WHEN the execution runs
    described = execution_of(stack, inquiry_id)

    # THEN the retry sends the second and third parts only, and every CPT has one result
    assert described["status"] == "SUCCEEDED"
    assert payer.calls == 4
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["status"] == "COMPLETED" and item["attempts"] == 2
    assert item["partial_responses"] == []
    results = store.claim_results("local", "CLM-EVT-1")
    assert len(results) == 5 and {r["payer_calls"] for r in results} == {3}
    assert _archived(inquiry_id) == [
        "attempt-1/0.270",
        "attempt-1/0.271",
        "attempt-1/1.270",
        "attempt-2/1.270",
        "attempt-2/1.271",
        "attempt-2/2.270",
        "attempt-2/2.271",
    ]


def test_a_split_that_outgrows_the_time_left_continues_in_another_run(
    limit_two: None, stack: AwsStack, payer: PayerScript
) -> None:
    from cptverify.aws import lease
    from cptverify.payers.registry import get_payer
    from cptverify.service.steps import PART_MARGIN_SECONDS

    # GIVEN an exchange Lambda whose time left after one call is short of a second one
    acme = get_payer("ACME")
    needed = acme.connect_timeout_seconds + acme.read_timeout_seconds + PART_MARGIN_SECONDS
    stack.timeouts["PayerExchangeFunction"] = needed - 1
    inquiry_id = submit(stack, inquiry_body(procedures=[{"code": c} for c in CODES]))

    # WHEN the execution runs
    described = execution_of(stack, inquiry_id)

    # THEN each run sends one part, records it, frees the lease and asks to continue; the
    # last run answers, and no part was sent twice
    assert described["status"] == "SUCCEEDED"
    outcomes = [
        i.result["outcome"] for i in stack.invocations if i.function == "PayerExchangeFunction"
    ]
    assert outcomes == ["continue", "continue", "answered"]
    assert payer.calls == 3
    assert lease.live_holders("ACME") == 0
    item = store.get_inquiry("local", inquiry_id)
    assert item is not None and item["status"] == "COMPLETED" and item["payer_calls"] == 3
    assert [r["procedure_indexes"] for r in item["responses"]] == [[0, 1], [2, 3], [4]]
    results = store.claim_results("local", "CLM-EVT-1")
    assert sorted(r["line"] for r in results) == [1, 2, 3, 4, 5]
    assert _archived(inquiry_id) == [
        f"attempt-{p + 1}/{p}.{k}" for p in range(3) for k in ("270", "271")
    ]


def test_a_schedule_visit_over_the_limit_is_split_too(
    limit_two: None, stack: AwsStack, payer: PayerScript, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.aws.conftest import today

    monkeypatch.setenv("CPTVERIFY_FRESHNESS_SECRET", "test-secret")

    # GIVEN a schedule whose two rows make one visit of five procedures
    header = (
        "appointment_id,claim_id,date_of_service,payer_id,member_id,patient_first_name,"
        "patient_last_name,patient_birth_date,patient_gender,provider_npi,provider_network,"
        "procedures,allowed_amounts"
    )
    person = f"{today()},ACME,CANARYMEMBER123,CANARYFIRST,CANARYLAST,1901-02-03,F,1234567893,in"
    body = "\n".join(
        [
            header,
            f'A1,CLM-SCH-1,{person},"99213;97110:GP;97140",',
            f'A2,CLM-SCH-1,{person},"97530;99214",',
        ]
    ).encode()

    # WHEN it is uploaded and every execution runs
    stack.session.client("s3").put_object(
        Bucket=stack.bucket_name, Key="schedules/local/split.csv", Body=body
    )
    stack.wait_all()

    # THEN one inquiry asked the payer three times and each of the five lines has its result
    started = stack.executions()
    assert len(started) == 1 and payer.calls == 3
    described = execution_of(stack, started[0]["name"])
    assert described["status"] == "SUCCEEDED"
    item = store.get_inquiry("local", started[0]["name"])
    assert item is not None and item["status"] == "COMPLETED" and item["payer_calls"] == 3
    results = store.claim_results("local", "CLM-SCH-1")
    assert sorted(r["line"] for r in results) == [1, 2, 3, 4, 5]
    assert {r["payer_calls"] for r in results} == {3}
