"""Connector overhead: our CORE MIME exchange vs a bare httpx POST of the same multipart body.

The simulator runs in canned mode (one fixed 271, no building). The same 270 is posted 1,000
times through `PayerConnector.exchange` (envelope build, HTTP, envelope read; the 271 is not
read) and 1,000 times as a bare `httpx.Client.post` of a pre-built multipart body; one reused
client per arm, arms interleaved, after a warm-up. Goal: our p50 at most 1.5x the bare p50.
"""

from __future__ import annotations

import statistics
import time
from datetime import date

import httpx

from cptverify.inquiry import Inquiry
from cptverify.payers import mime
from cptverify.payers.connector import PayerConnector
from cptverify.payers.core import CoreRequest
from cptverify.payers.credentials import get_credentials
from cptverify.payers.metrics import MemoryPayerMetrics
from cptverify.payers.registry import get_payer
from cptverify.x12.builder270 import EnvelopeConfig, build_270
from cptverify_local.simulator import running_simulator

RUNS = 1000
WARMUP = 100
GOAL = 1.5


def _x12_270() -> str:
    inquiry = Inquiry.model_validate(
        {
            "claim_id": "BENCH-1",
            "date_of_service": date.today().isoformat(),
            "payer": {"id": "ACME", "name": "ACME HEALTH PLAN"},
            "provider": {"npi": "1234567893", "organization_name": "BENCH CLINIC"},
            "subscriber": {
                "member_id": "ACM100001",
                "first_name": "JANE",
                "last_name": "DOE",
                "birth_date": "1980-01-15",
            },
            "procedures": [{"code": "99213"}],
        }
    )
    return (
        build_270(inquiry, EnvelopeConfig(sender_id="CPTVERIFY", receiver_id="ACME"))
        .interchanges[0]
        .x12
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    x12 = _x12_270()
    payer = get_payer("ACME")
    creds = get_credentials(payer)
    with running_simulator(canned=True) as sim:
        url = sim.url + (payer.path or "")
        body, content_type = mime.encode_request(
            CoreRequest(x12, payer.sender_id, payer.receiver_id, creds.username, creds.password)
        )
        headers = {"Content-Type": content_type}
        ours: list[float] = []
        bare: list[float] = []
        with (
            PayerConnector(payer, base_url=sim.url, metrics=MemoryPayerMetrics()) as connector,
            httpx.Client() as client,
        ):
            for i in range(WARMUP + RUNS):
                t0 = time.perf_counter()
                connector.exchange(x12)
                t1 = time.perf_counter()
                response = client.post(url, content=body, headers=headers)
                t2 = time.perf_counter()
                if response.status_code != 200:
                    raise SystemExit(f"bare post failed: HTTP {response.status_code}")
                if i >= WARMUP:
                    ours.append((t1 - t0) * 1000)
                    bare.append((t2 - t1) * 1000)
        served = sim.metrics()["payers"]["ACME"]["requests"]
    ratio = statistics.median(ours) / statistics.median(bare)
    print(f"requests served by the simulator: {served}")
    for name, values in (("connector", ours), ("bare httpx", bare)):
        print(
            f"{name:>10}: p50 {statistics.median(values):.3f} ms  p90 {_pct(values, 0.9):.3f} ms"
            f"  p99 {_pct(values, 0.99):.3f} ms  (n={len(values)})"
        )
    verdict = "met" if ratio <= GOAL else "missed"
    print(f"bench connector: {ratio:.2f}x (goal <= {GOAL}x) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
