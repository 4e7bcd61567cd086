"""Benchmark `resolve`: what per-CPT resolution adds to reading a 271.

The 100-subscriber synthetic 271 (`../shared/bench/271-synthetic-100-subscribers.x12`, or the same
shape generated here when that folder is absent) is read alone, and read then resolved for
99213, 97110 and 70551 for every patient, alternately in one run; the figure is the ratio of the
medians. Each call is timed as `timeit` times (collector run before, paused during, in both
arms; see `timed`). Goal: resolution adds at most 50% to the read.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from cptverify.benefits.resolve import ProcedureRequest, resolve_procedures
from cptverify.x12.reader271 import read_271

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"
GOAL = 50.0
RUNS = 60
REQUESTS = [
    ProcedureRequest("99213"),
    ProcedureRequest("97110", modifiers=("GP",)),
    ProcedureRequest("70551"),
]

_PATIENT = (
    "HL*{hl}*2*22*0~TRN*2*CLM{n:04d}*1123456789~NM1*IL*1*DOE*JOHN****MI*W{n:09d}~"
    "DMG*D8*19800115*M~EB*1*IND*30^1^33^35^47^86^88^98^AL^MH^UC*PR*GOLD PPO~"
    "EB*C*IND*30*PR*GOLD PPO*23*1500.00*****Y~EB*C*IND*30*PR*GOLD PPO*29*350.00*****Y~"
    "EB*C*FAM*30*PR*GOLD PPO*23*3000.00*****Y~EB*G*IND*30*PR*GOLD PPO*23*5000.00*****Y~"
    "EB*G*IND*30*PR*GOLD PPO*29*4100.00*****Y~EB*A*IND*30*PR*GOLD PPO*27**0.2****Y~"
    "EB*A*IND*30*PR*GOLD PPO*27**0.4****N~EB*1*IND*98*PR*GOLD PPO*******Y*HC:99213~"
    "EB*B*IND*98*PR*GOLD PPO*27*25.00****N*Y*HC:99213~III*ZZ*11~"
    "EB*B*IND*98*PR*GOLD PPO*27*60.00****N*N*HC:99213~"
    "EB*B*IND*PT*PR*GOLD PPO*27*25.00****N*Y*HC:97110:GP~"
    "EB*F*IND*PT*PR*GOLD PPO*22*****Y*Y*HC:97110:GP~HSD*VS*30***22~"
    "MSG*PRIOR AUTHORIZATION REQUIRED~EB*1*IND*62*PR*GOLD PPO*******Y*HC:70551~"
    "EB*B*IND*62*PR*GOLD PPO*27*25.00****N*Y*HC:70551~"
)


def synthetic(patients: int = 100) -> str:
    """A 271 of the same shape as the shared synthetic file, when ../shared is absent."""
    body = "".join(_PATIENT.format(hl=n + 3, n=n) for n in range(patients))
    count = 6 + body.count("~") + 1
    return (
        "ISA*00*          *00*          *ZZ*ACMEPAYER      *ZZ*BESTCARE       *261203*1530*^*"
        "00501*000000905*0*T*:~GS*HB*ACMEPAYER*BESTCARE*20261203*1530*905*X*005010X279A1~"
        "ST*271*0001*005010X279A1~BHT*0022*11*BATCH904*20261203*1530~HL*1**20*1~"
        "NM1*PR*2*ACME HEALTH PLAN*****PI*12345~HL*2*1*21*1~"
        f"NM1*1P*2*BESTCARE CLINIC*****XX*1234567893~{body}SE*{count}*0001~GE*1*905~"
        "IEA*1*000000905~"
    )


def read_only(data: bytes) -> None:
    read_271(data)


def read_and_resolve(data: bytes) -> None:
    ic = read_271(data)
    for txn in ic.transactions:
        for patient in txn.patients:
            resolve_procedures(patient, REQUESTS, rejections_from_transaction=txn.errors)


def timed(fn: Callable[[bytes], None], data: bytes) -> float:
    """One call's seconds, timed as `timeit` does: a full collection before the call, the
    cycle collector paused during it, in both arms alike. Neither arm then pays for garbage
    the previous round left, and the resolving arm does not pay for the first young-generation
    pass over the interchange the read has just built (read_271 pauses the collector while it
    reads, so its objects are all still young when it returns); resolution builds no cycles
    and, since it no longer pauses the collector itself, is timed the way it runs."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn(data)
        return time.perf_counter() - start
    finally:
        gc.enable()


def main() -> None:
    path = SHARED / "271-synthetic-100-subscribers.x12"
    if path.exists():
        data, source = path.read_bytes(), path.name
    else:
        data, source = synthetic().encode(), "generated 100-subscriber 271"
    patients = sum(len(t.patients) for t in read_271(data).transactions)
    for _ in range(5):
        read_only(data)
        read_and_resolve(data)

    read_times = [0.0] * RUNS
    both_times = [0.0] * RUNS
    for run in range(RUNS):
        read_times[run] = timed(read_only, data)
        both_times[run] = timed(read_and_resolve, data)

    read_ms = statistics.median(read_times) * 1000
    both_ms = statistics.median(both_times) * 1000
    added = (both_ms / read_ms - 1) * 100
    print(f"input: {source}, {len(data)} bytes, {patients} patients, {len(REQUESTS)} codes each")
    print(f"read alone:        median {read_ms:.2f} ms over {RUNS} runs")
    print(f"read and resolve:  median {both_ms:.2f} ms over {RUNS} runs")
    print(f"resolution alone:  {both_ms - read_ms:.2f} ms for {patients * len(REQUESTS)} results")
    verdict = "met" if added <= GOAL else "missed"
    print(f"bench resolve: +{added:.0f}% over read (goal <= +{GOAL:.0f}%) {verdict}")


if __name__ == "__main__":
    main()
