"""Where the project's pieces live, and which of them the embedded stack cannot find.

The stack runs the very template, state machine and handlers that AWS runs, so it needs them on
disk (a clone of the project, installed editable). When one is missing, `demo` and `serve` say
which in one line instead of pretending.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SAMPLE_SCHEDULE = DATA_DIR / "sample-schedule.csv"
PLAN_BOOK = DATA_DIR / "plan-book.yaml"


@dataclass(frozen=True)
class Part:
    """One piece the stack needs: what it is, and how to tell it is there."""

    name: str
    module: str | None = None
    path: Path | None = None
    pattern: str | None = None

    def present(self) -> bool:
        if self.module is not None and importlib.util.find_spec(self.module) is None:
            return False
        if self.path is not None and not self.path.exists():
            return False
        return not (self.pattern is not None and not any(PROJECT_ROOT.glob(self.pattern)))


def _find_spec_safely(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


STACK_PARTS = (
    Part("template.yaml", path=TEMPLATE_PATH),
    Part("state machine definition (statemachine/*.asl.json)", pattern="statemachine/*.asl.json"),
    Part("function handlers (functions/*/app.py)", pattern="functions/*/app.py"),
    Part("moto harness (cptverify_local.harness)", module="cptverify_local.harness"),
    Part("payer simulator (cptverify_local.simulator)", module="cptverify_local.simulator"),
    Part("simulator plan book (local/cptverify_local/data/plan-book.yaml)", path=PLAN_BOOK),
)
BATCH_PARTS = (
    Part(
        "schedule ingest handler (functions/schedule_ingest/app.py)",
        pattern="functions/schedule_ingest/app.py",
    ),
    Part("schedule package (cptverify.schedules)", module="cptverify.schedules"),
)


def missing(parts: tuple[Part, ...]) -> list[str]:
    """Names of the parts that are not there."""
    absent = []
    for part in parts:
        if part.module is not None and not _find_spec_safely(part.module) or not part.present():
            absent.append(part.name)
    return absent
