"""Static checks of the state machine definition: targets exist, error names are real."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cptverify_local.harness import PROJECT_ROOT, load_template
from cptverify_local.harness.template import parameter_defaults, substitute_definition

ASL_PATH = PROJECT_ROOT / "statemachine" / "inquiry.asl.json"
# Error names AWS itself raises: Step Functions' own and the Lambda service's.
AWS_ERROR_NAMES = {
    "States.ALL",
    "States.Timeout",
    "States.TaskFailed",
    "Lambda.ServiceException",
    "Lambda.TooManyRequestsException",
    "Lambda.SdkClientException",
}


def _definition() -> dict[str, Any]:
    """The ASL with every substitution given a plain value (the deployed shape)."""
    template = load_template()
    props = template["Resources"]["InquiryStateMachine"]["Properties"]
    defaults = parameter_defaults(template)
    values = {
        name: defaults.get(
            str(value.get("Ref")), "arn:aws:lambda:us-east-1:123456789012:function:x"
        )
        if isinstance(value, dict) and "Ref" in value
        else "arn:aws:lambda:us-east-1:123456789012:function:x"
        for name, value in props["DefinitionSubstitutions"].items()
    }
    return dict(json.loads(substitute_definition(ASL_PATH.read_text(encoding="utf-8"), values)))


def _states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every state with the `States` map it belongs to (nested Map/Parallel included)."""
    for name, state in machine["States"].items():
        yield name, state, machine["States"]
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _states(state[key])


def _raised_names() -> set[str]:
    """Class names of the exceptions our layer defines and can raise out of a task."""
    names: set[str] = set()
    package = PROJECT_ROOT / "layers" / "cptverify" / "cptverify"
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and (b.id.endswith("Error") or b.id == "Exception")
                for b in node.bases
            ):
                names.add(node.name)
    return names


def test_every_substitution_is_declared_and_used() -> None:
    template = load_template()
    declared = set(
        template["Resources"]["InquiryStateMachine"]["Properties"]["DefinitionSubstitutions"]
    )
    text = ASL_PATH.read_text(encoding="utf-8")
    import re

    used = set(re.findall(r"\$\{([^}]+)\}", text))
    assert used == declared


def test_every_target_exists() -> None:
    machine = _definition()
    assert machine["StartAt"] in machine["States"]
    for name, state, scope in _states(machine):
        targets = [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Choices", [])]
        targets += [c.get("Next") for c in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in scope, f"{name} -> {target} does not exist"
        is_end = state.get("End") or state["Type"] in ("Succeed", "Fail", "Choice")
        assert is_end or state.get("Next"), f"{name} neither ends nor continues"


def test_every_state_is_reachable() -> None:
    machine = _definition()
    seen, todo = set(), [machine["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = machine["States"][name]
        todo += [t for t in (state.get("Next"), state.get("Default")) if t]
        todo += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    assert seen == set(machine["States"])


def test_every_error_name_is_raised_by_the_code() -> None:
    from cptverify.payers.errors import ALL_ERROR_NAMES

    raised = _raised_names() | set(ALL_ERROR_NAMES)
    for name, state, _ in _states(_definition()):
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                assert error in raised or error in AWS_ERROR_NAMES, (
                    f"{name}: {error} is never raised"
                )


def test_retry_policy() -> None:
    states = _definition()["States"]
    realtime = {tuple(r["ErrorEquals"]): r for r in states["ExchangeRealtime"]["Retry"]}
    batch = {tuple(r["ErrorEquals"]): r for r in states["ExchangeBatch"]["Retry"]}

    # a timeout waits at least 90 s (CORE); transient errors back off with full jitter
    assert realtime[("PayerTimeout",)]["IntervalSeconds"] >= 90
    transient = realtime[("PayerUnavailable", "PayerBusy", "PayerThrottled")]
    assert transient["JitterStrategy"] == "FULL" and transient["BackoffRate"] > 1
    assert transient["MaxDelaySeconds"] <= 10
    long_haul = batch[("PayerTimeout", "PayerUnavailable", "PayerBusy", "PayerThrottled")]
    assert long_haul["JitterStrategy"] == "FULL" and long_haul["MaxDelaySeconds"] >= 3600

    # no retry on a rejection or an invalid response: they go straight to the catch-all
    for state in (states["ExchangeRealtime"], states["ExchangeBatch"]):
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert not retried & {"PayerRejected", "ResponseInvalid", "States.ALL"}
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"]


def test_no_data_flows_into_the_history() -> None:
    """Task payloads are built from ids; the failure record gets the error name, not the cause."""
    for name, state, _ in _states(_definition()):
        payload = state.get("Parameters", {}).get("Payload", {})
        for key, value in payload.items():
            assert value in (
                "$.tenant",
                "$.inquiry_id",
                "$.mode",
                "$.error.Error",
            ) or not key.endswith(".$"), f"{name} passes {key}={value}"


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "events").rglob("*.json")), ids=str)
def test_event_files_are_json(path: Path) -> None:
    assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
