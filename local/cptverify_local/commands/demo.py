"""`cptverify demo [--schedule FILE] [--out DIR]`: a day's schedule through the embedded stack.

Starts the embedded stack (moto resources from template.yaml, our handlers, the payer
simulator), uploads the schedule to the local bucket, shows a progress bar while the batch's
inquiries run through the state machine, then prints one line per appointment and CPT and a
summary, and copies the batch report and error report from `results/` to a local folder.
Service logs go to `DIR/demo.log` so they do not mix with the table; they carry no patient data.
Each run starts by removing the files an earlier run wrote there (and only those).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cptverify_local.stack.parts import BATCH_PARTS, SAMPLE_SCHEDULE, missing

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_OUT = Path("demo-output")
DEFAULT_TIMEOUT_S = 120.0
LOG_NAME = "demo.log"
# The files a run writes to the output folder: its log and the batch's reports.
# Limitation: a report file the batch would add under another name is copied but not cleared
# by the next run until its name is listed here.
OUTPUT_FILES = (LOG_NAME, "report.csv", "report.json", "errors.csv")
# Width of the table when the output is not a terminal (a file, a pipe) and COLUMNS is unset.
FILE_WIDTH = 200
SEMICOLON_HINT = (
    "the file seems semicolon-separated (as Excel saves CSV in some locales); "
    "save it comma-separated"
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="verify a schedule end to end on the embedded stack and print the results",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--schedule",
        type=Path,
        default=None,
        help="schedule CSV in the documented format (default: the sample schedule)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder the reports are copied to (default: {DEFAULT_OUT}/)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds to wait for the batch to finish (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def _fail(message: str, code: int = 2) -> int:
    print(f"cptverify demo: {message}", file=sys.stderr)
    return code


@contextmanager
def _logs_to(path: Path) -> Iterator[None]:
    """Send service logs, library logs and anything printed (metrics records) to a file while
    the table owns the terminal."""
    from cptverify.observability import logger

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        handler = logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        previous = handler.stream
        handler.setStream(stream)
        root = logging.getLogger()
        file_handler = logging.StreamHandler(stream)
        file_handler.setLevel(logging.WARNING)
        root.addHandler(file_handler)
        try:
            with redirect_stdout(stream):
                yield
        finally:
            root.removeHandler(file_handler)
            handler.setStream(previous)
            _unbind(stream, previous)


def _unbind(stream: object, previous: Any) -> None:
    """Loggers made inside the block (the API's audit logger is made on first import) bound
    their handler to the log file, which is about to close: give them the previous stream."""
    for item in logging.Logger.manager.loggerDict.values():
        for one in getattr(item, "handlers", []):
            if isinstance(one, logging.StreamHandler) and one.stream is stream:
                one.setStream(previous)


def run(args: argparse.Namespace) -> int:
    schedule: Path = args.schedule or SAMPLE_SCHEDULE
    if not schedule.is_file():
        if args.schedule is None:
            return _fail(f"the sample schedule is missing ({schedule})")
        return _fail(f"schedule {schedule} is not a readable file")
    absent = missing(BATCH_PARTS)
    if absent:
        return _fail("cannot run yet, missing: " + "; ".join(absent))
    problem = schedule_problem(schedule)
    if problem is not None:
        return _fail(f"schedule {schedule.name} cannot be read: {problem}")

    out_dir: Path = args.out
    try:
        clear_output(out_dir)
    except OSError as exc:
        return _fail(f"cannot prepare the output folder {out_dir}: {exc.strerror}")
    from rich.console import Console

    console = Console(file=sys.stdout)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(file=sys.stdout, width=FILE_WIDTH)
    with _logs_to(out_dir / LOG_NAME):
        return _run(schedule, out_dir, args.timeout, console)


def schedule_problem(path: Path) -> str | None:
    """Why the file cannot be a schedule (no header row, a required column missing), in words
    that name columns only; None when its header reads. Reads up to the header row."""
    from cptverify.schedules.columns import Header, ScheduleFormatError, iter_rows, text_stream

    try:
        with open(path, "rb") as binary, text_stream(binary) as text:
            for item in iter_rows(text):
                if isinstance(item, Header):
                    return None
    except ScheduleFormatError as exc:
        reason = exc.reason
        if _single_cell_with_semicolons(path):
            reason += "; " + SEMICOLON_HINT
        return reason
    except OSError as exc:
        return str(exc.strerror or "unreadable")
    return "the file has no header row"


def _single_cell_with_semicolons(path: Path) -> bool:
    """Whether the file's first non-blank record is one cell holding a semicolon."""
    from cptverify.schedules.columns import text_stream

    with open(path, "rb") as binary, text_stream(binary) as text:
        try:
            for record in csv.reader(text):
                if any(cell.strip() for cell in record):
                    return len(record) == 1 and ";" in record[0]
        except csv.Error:
            return False
    return False


def clear_output(out_dir: Path) -> None:
    """Remove what an earlier run wrote to `out_dir` (only `OUTPUT_FILES`), so the folder shows
    this run alone; anything else there is left as it is."""
    for name in OUTPUT_FILES:
        (out_dir / name).unlink(missing_ok=True)


def _run(schedule: Path, out_dir: Path, timeout_s: float, console: Console) -> int:
    from cptverify_local.stack.embedded import StackPartsMissing, embedded_stack
    from cptverify_local.stack.view import (
        BatchProgress,
        Summary,
        line_from_report_row,
        results_table,
        summary_table,
        watch_batch,
    )

    body = schedule.read_bytes()
    with ExitStack() as cleanup:
        try:
            with console.status("starting the embedded stack and the payer simulator"):
                stack = cleanup.enter_context(embedded_stack())
        except StackPartsMissing as exc:
            return _fail("cannot run yet, " + str(exc))
        cleanup.callback(console.print, "[dim]embedded stack stopped[/]")
        if stack.ingest_function() is None:
            return _fail(
                "cannot run yet, missing: a function with an S3 event on the bucket "
                "(the schedule ingest) in template.yaml"
            )
        console.print(f"[bold]embedded stack up[/]; payer simulator at {stack.simulator.url}")
        console.print("[dim]not created locally:[/]")
        for line in stack.skipped_lines():
            console.print(f"[dim]  - {line}[/]")

        clock = time.perf_counter()
        uploaded = stack.upload_schedule(schedule.name, body)
        console.print(
            f"uploaded {schedule.name} as s3://…/{uploaded.key}; batch {uploaded.batch_id}"
        )

        def poll() -> BatchProgress:
            item = stack.batch(uploaded.batch_id)
            if item is None:
                return BatchProgress(0, 0, False)
            finished = sum(int(item.get(k, 0)) for k in ("completed", "rejected", "failed"))
            return BatchProgress(
                int(item.get("inquiries", 0)), finished, item.get("status") == "DONE"
            )

        state = watch_batch(poll, console, timeout_s=timeout_s)
        elapsed = time.perf_counter() - clock
        item = stack.batch(uploaded.batch_id) or {}
        if not state.done:
            return _fail(
                f"batch {uploaded.batch_id} did not finish in {timeout_s:.0f} s "
                f"({state.finished} of {state.inquiries} inquiries); see {out_dir / LOG_NAME}",
                code=1,
            )

        report_key = str(item.get("report_json") or "")
        report: dict[str, Any] = json.loads(stack.get_object(report_key)) if report_key else {}
        lines = [line_from_report_row(row) for row in report.get("lines", [])]
        console.print(results_table(lines, width=console.width))
        _print_bad_rows(console, stack, uploaded.batch_id)
        console.print(
            summary_table(
                Summary(
                    rows=int(item.get("rows", 0)),
                    inquiries=int(item.get("inquiries", 0)),
                    payer_calls=stack.payer_calls(),
                    retries=stack.batch_retries(uploaded.batch_id),
                    bad_rows=int(item.get("bad_rows", 0)),
                    elapsed_s=elapsed,
                    completed=int(item.get("completed", 0)),
                    rejected=int(item.get("rejected", 0)),
                    failed=int(item.get("failed", 0)),
                    ignored_columns=tuple(str(c) for c in item.get("ignored_columns") or []),
                )
            )
        )
        copied = stack.copy_results(uploaded.batch_id, out_dir)
        where = f"s3://…/results/{stack.tenant}/{uploaded.batch_id}/"
        console.print(f"reports in {where}, copied to:")
        for path in copied:
            console.print(f"  {path}")
        console.print(f"service logs: {out_dir / LOG_NAME}")
        return 0
    return 1


def _print_bad_rows(console: Any, stack: Any, batch_id: str) -> None:
    """The error report's lines: row number, ids, column and reason."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from cptverify.schedules.report import read_report_csv

    key = f"results/{stack.tenant}/{batch_id}/errors.csv"
    if key not in stack.list_keys(key):
        return
    rows = read_report_csv(stack.get_object(key))
    table = Table(
        title="Rows not verified (error report)",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("row", "appointment_id", "column", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            *(escape(row.get(name, "")) for name in ("row", "appointment_id", "column", "reason"))
        )
    console.print(table)
