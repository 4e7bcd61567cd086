"""Run every benchmark module (`bench/bench_*.py`) in its own interpreter, or those named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))
    summary: list[str] = []
    status = 0
    for name in names:
        print(f"== {name}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.bench_{name}"],
            cwd=BENCH_DIR.parent,
            stdout=subprocess.PIPE,
            text=True,
        )
        sys.stdout.write(proc.stdout)
        summary += [line for line in proc.stdout.splitlines() if line.startswith("bench ")]
        if proc.returncode != 0:
            status = 1
            summary.append(f"bench {name}: failed (exit {proc.returncode})")
    print("\n== summary")
    print("\n".join(summary))
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
