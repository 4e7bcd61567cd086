"""Plan-book validation, canned mode, the metrics endpoint and the simulator command."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import httpx
import pytest

from cptverify.payers.connector import FAULT_HEADER
from cptverify_local.cli import main
from cptverify_local.simulator import running_simulator
from cptverify_local.simulator.planbook import PlanBookError, parse_plan_book
from cptverify_local.simulator.server import LATENCY_HEADER
from tests.simulator.conftest import build_for, connector_for, inquiry_for

GOOD = """
providers: ["1234567893"]
payers:
  P1:
    name: P ONE
    plans:
      A: {name: PLAN A, benefits: [{service_type: "98", in_network: {copay: 10}}]}
    members:
      - {member_id: M1, first_name: A, last_name: B, birth_date: 1990-01-01, plan: A}
"""


def test_default_plan_book_has_ten_payers(plan_book):
    assert len(plan_book.payers) == 10


def test_member_with_unknown_plan_names_payer_member_and_field():
    bad = GOOD.replace("plan: A}", "plan: NOPE}")
    with pytest.raises(PlanBookError) as info:
        parse_plan_book(bad)
    text = str(info.value)
    assert "payer P1" in text and "member M1" in text and "field plan" in text


def test_bad_value_names_plan_benefit_and_field():
    bad = GOOD.replace("copay: 10", "copay: -3")
    with pytest.raises(PlanBookError) as info:
        parse_plan_book(bad)
    text = str(info.value)
    assert "payer P1 plan A benefit 98 field in_network.copay" in text


def test_bad_member_field_names_the_member():
    bad = GOOD.replace("birth_date: 1990-01-01", "birth_date: someday")
    with pytest.raises(PlanBookError) as info:
        parse_plan_book(bad)
    assert "payer P1 member M1 field birth_date" in str(info.value)


def test_unknown_fault_and_bad_yaml_are_named():
    bad = GOOD.replace("    name: P ONE", "    name: P ONE\n    faults: {rates: {meteor: 0.5}}")
    with pytest.raises(PlanBookError, match="payer P1.*unknown fault 'meteor'"):
        parse_plan_book(bad)
    with pytest.raises(PlanBookError, match="not valid YAML at line"):
        parse_plan_book("payers: [\n  {")


def test_simulator_command_stops_at_start_on_malformed_plan_book(tmp_path: Path, capsys):
    path = tmp_path / "book.yaml"
    path.write_text(GOOD.replace("plan: A}", "plan: NOPE}"), encoding="utf-8")
    assert main(["simulator", "--port", "8790", "--plan-book", str(path)]) == 2
    err = capsys.readouterr().err
    assert "member M1 field plan" in err


def test_canned_mode_returns_one_fixed_271(plan_book):
    with running_simulator(canned=True) as sim, connector_for(sim, "ACME") as connector:
        member = plan_book.payers["BLUEPEAK"].members[0]
        x12, _ = build_for(
            connector.payer,
            inquiry_for("ACME", member.member_id, member.first_name, member.last_name, None),
        )
        first = connector.exchange(x12).payload
        second = connector.exchange(x12).payload
    assert first == second
    assert "TRN*2*CANNED" in first


def test_metrics_count_requests_and_peak_concurrency(plan_book):
    with running_simulator() as sim:
        member = plan_book.payers["ACME"].members[0]
        with connector_for(sim, "ACME") as connector:
            x12, _ = build_for(
                connector.payer,
                inquiry_for(
                    "ACME",
                    member.member_id,
                    member.first_name,
                    member.last_name,
                    member.birth_date.isoformat(),
                ),
            )
            barrier = threading.Barrier(4)

            def call() -> None:
                barrier.wait()
                connector.exchange(x12, headers={LATENCY_HEADER: "300"})

            threads = [threading.Thread(target=call) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        with urllib.request.urlopen(sim.url + "/metrics") as response:
            data = json.load(response)
        acme = data["payers"]["ACME"]
        assert acme["requests"] == 4 and acme["answers"] == 4
        assert acme["peak_concurrent"] == 4
        assert acme["in_flight"] == 0
        httpx.delete(sim.url + "/metrics")
        assert sim.metrics()["total_requests"] == 0


def test_unknown_fault_header_is_a_client_error(simulator, plan_book):
    with connector_for(simulator, "ACME") as connector:
        x12, _ = build_for(connector.payer, inquiry_for("ACME", "X1", "A", "B", None))
        body, ctype = connector._encode(x12)[1:]
        response = connector.client.post(
            connector.url, content=body, headers={"Content-Type": ctype, FAULT_HEADER: "meteor"}
        )
    assert response.status_code == 400
