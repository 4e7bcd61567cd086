"""Benchmark: fresh-interpreter import time of the X12 reader and model, against pydantic alone.

Each sample starts a new interpreter and times, inside it, `import` of
`cptverify.x12.reader271` + `cptverify.x12.json_view` (which pull in the model, tokenizer and AAA
tables), and separately `from pydantic import BaseModel`. Interpreter start-up is not counted.
Goal: ours at most 2x the pydantic import (median of several fresh interpreters).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

GOAL = 2.0
SAMPLES = 9

OURS = "import cptverify.x12.reader271, cptverify.x12.json_view"
PEER = "from pydantic import BaseModel"


def sample(statement: str) -> float:
    code = (
        "import time\n"
        "start = time.perf_counter()\n"
        f"{statement}\n"
        "print(time.perf_counter() - start)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return float(out.strip()) * 1000


def main() -> int:
    ours: list[float] = []
    peer: list[float] = []
    for _ in range(SAMPLES):
        ours.append(sample(OURS))
        peer.append(sample(PEER))
    ours_ms = statistics.median(ours)
    peer_ms = statistics.median(peer)
    print(f"reader + model + json view : {ours_ms:7.1f} ms (median of {SAMPLES} interpreters)")
    print(f"pydantic BaseModel alone   : {peer_ms:7.1f} ms")
    ratio = ours_ms / peer_ms
    verdict = "met" if ratio <= GOAL else "missed"
    print(f"bench import: {ratio:.2f}x the pydantic import time (goal <= {GOAL}x) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
