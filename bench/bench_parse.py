"""Benchmark: read a 100-subscriber 271 into the model, beside pyx12's raw reader and a bare split.

Peers, measured in this one run on the same text:
- `read_271` (ours): tokenize, envelope checks, HL walk, every EB row into dataclasses;
- pyx12 4.0.0 `X12Reader` without a map: iterate its segments (tokenizing and envelope checks);
- a bare baseline: split on the terminator and on the element separator, nothing else.

Goal: ours at least 3x faster than pyx12's raw reader (median of many runs). The ratio to the
bare split is printed too, to show what the walk and the model cost on top of tokenizing.
Without ../shared/bench the same kind of file is generated here.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cptverify.x12.reader271 import read_271

ROOT = Path(__file__).resolve().parent.parent
SHARED_FILE = ROOT.parent / "shared" / "bench" / "271-synthetic-100-subscribers.x12"
GOAL = 3.0
RUNS = 61


def synthetic_271(subscribers: int = 100) -> str:
    """A made-up 271 with `subscribers` patients, each with plan- and procedure-level rows."""
    body: list[str] = [
        "BHT*0022*11*BENCH*20261203*1530",
        "HL*1**20*1",
        "NM1*PR*2*BENCH HEALTH PLAN*****PI*99999",
        "PER*IC*PROVIDER SERVICES*TE*8005550100",
        "HL*2*1*21*1",
        "NM1*1P*2*BENCH CLINIC*****XX*1234567893",
    ]
    for n in range(subscribers):
        body += [
            f"HL*{n + 3}*2*22*0",
            f"TRN*2*TRACE{n:05d}*9BENCHCORP",
            f"NM1*IL*1*LAST{n}*FIRST****MI*M{n:08d}",
            "REF*6P*GRP001*GROUP",
            "N3*1 MAIN ST",
            "N4*TOWN*IL*60000",
            "DMG*D8*19800101*F",
            "DTP*346*D8*20260101",
            "EB*1*IND*30^1^33^35^47^86^88^98^AL^MH^UC*PR*GOLD PPO",
            "EB*C*IND*30*PR*GOLD PPO*23*1500.00*****Y",
            "EB*C*IND*30*PR*GOLD PPO*29*350.00*****Y",
            "EB*G*IND*30*PR*GOLD PPO*23*5000.00*****Y",
            "EB*A*IND*30*PR*GOLD PPO*27**0.2****Y",
            "EB*A*IND*30*PR*GOLD PPO*27**0.4****N",
            "EB*B*IND*98*PR*GOLD PPO*27*25.00****N*Y*HC:99213",
            "III*ZZ*11",
            "EB*B*IND*98*PR*GOLD PPO*27*60.00****N*N*HC:99213",
            "EB*A*IND*PT*PR*GOLD PPO*27**0.2****Y*HC:97110:GP",
            "HSD*VS*30***22",
            "MSG*PER CALENDAR YEAR",
            "EB*U*IND*30",
            "LS*2120",
            "NM1*X3*2*UTILIZATION DEPT",
            "PER*IC**TE*8005550111",
            "LE*2120",
        ]
    segments = [
        "ISA*00*          *00*          *ZZ*BENCHPAYER     *ZZ*BENCHCLINIC    *261203*1530*^*00501*"
        "000000001*0*T*:",
        "GS*HB*BENCHPAYER*BENCHCLINIC*20261203*1530*1*X*005010X279A1",
        "ST*271*0001*005010X279A1",
        *body,
        f"SE*{len(body) + 2}*0001",
        "GE*1*1",
        "IEA*1*000000001",
    ]
    return "~".join(segments) + "~"


def bare_split(text: str) -> int:
    count = 0
    for piece in text.split("~"):
        piece = piece.strip()
        if piece:
            count += len(piece.split("*"))
    return count


def pyx12_raw(text: str) -> int:
    import pyx12.x12file

    count = 0
    for seg in pyx12.x12file.X12Reader(io.StringIO(text)):
        count += seg.__len__()
    return count


def ours(text: str) -> int:
    ic = read_271(text)
    return sum(len(p.benefits) for t in ic.transactions for p in t.patients)


def medians_ms(peers: list[Callable[[str], int]], text: str, runs: int) -> list[float]:
    """Median time of each peer; rounds interleave the peers so machine load hits all alike."""
    for fn in peers:
        fn(text)
    times: list[list[float]] = [[] for _ in peers]
    for _ in range(runs):
        for i, fn in enumerate(peers):
            start = time.perf_counter()
            fn(text)
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) * 1000 for t in times]


def main() -> int:
    if SHARED_FILE.exists():
        text = SHARED_FILE.read_text(encoding="utf-8")
        source = SHARED_FILE.name
    else:
        text = synthetic_271()
        source = "generated synthetic 271 (../shared/bench is absent)"
    print(f"input: {source}, {len(text)} characters, {text.count('~')} segments")
    try:
        import pyx12.x12file  # noqa: F401
    except ImportError:
        print("pyx12 is not installed; install the dev extra to compare")
        print("bench parse: n/a (goal >= 3.0x faster than pyx12 raw reader) missed")
        return 1
    ours_ms, pyx12_ms, bare_ms = medians_ms([ours, pyx12_raw, bare_split], text, RUNS)
    print(f"read_271 into the model : {ours_ms:8.2f} ms (median of {RUNS})")
    print(f"pyx12 4.0.0 raw reader  : {pyx12_ms:8.2f} ms (same rounds)")
    print(f"bare split baseline     : {bare_ms:8.2f} ms")
    print(f"ours vs bare split      : {ours_ms / bare_ms:.1f}x slower than only splitting")
    ratio = pyx12_ms / ours_ms
    verdict = "met" if ratio >= GOAL else "missed"
    print(f"bench parse: {ratio:.1f}x faster than pyx12 raw reader (goal >= {GOAL}x) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
