"""What `cptverify demo` shows: a progress bar while a batch runs, then one table line per
appointment and CPT, then a summary.

Lines come either from a batch report row (the CSV/JSON report the batch writes) or from a
per-CPT result dict (the shape the API, the table and `cptverify parse --json` share). Both are
reduced to `DemoLine`, which only holds what the table prints. Patient names, member ids and
birth dates are never part of a line: the table shows appointment, claim, payer and codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cptverify.schedules.report import result_reason

NETWORK_ORDER = ("in", "both", "unspecified", "out")
STATUS_STYLE = {
    "covered": "green",
    "not_covered": "yellow",
    "inactive": "yellow",
    "rejected": "red",
    "failed": "red",
    "unknown": "magenta",
}
DASH = "-"


@dataclass(frozen=True)
class DemoLine:
    """One appointment and procedure, as printed."""

    appointment_id: str
    claim_id: str
    payer_id: str
    code: str
    status: str
    match: str = DASH
    network: str = DASH
    copay: str = DASH
    coinsurance: str = DASH
    deductible_remaining: str = DASH
    oop_remaining: str = DASH
    authorization: str = DASH
    patient_share: str = DASH
    reason: str = ""


@dataclass(frozen=True)
class BatchProgress:
    """How far a batch has got: inquiries finished out of all of them."""

    inquiries: int
    finished: int
    done: bool


@dataclass(frozen=True)
class Summary:
    """The figures under the table."""

    rows: int
    inquiries: int
    payer_calls: int
    retries: int
    bad_rows: int
    elapsed_s: float
    completed: int = 0
    rejected: int = 0
    failed: int = 0
    ignored_columns: tuple[str, ...] = ()


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return DASH
    if isinstance(value, bool):
        return "required" if value else "not required"
    return str(value)


def _code(code: str, modifiers: Iterable[str] | None) -> str:
    mods = [m for m in (modifiers or []) if m]
    return ":".join([code, *mods])


def _amounts(entries: Iterable[Mapping[str, Any]] | None, *keys: str) -> str:
    seen: list[str] = []
    for entry in entries or []:
        for key in keys:
            value = entry.get(key)
            if value not in (None, ""):
                text = str(value)
                if key == "percent":
                    text = _percent(text)
                if text not in seen:
                    seen.append(text)
                break
    return " / ".join(seen) if seen else DASH


def _percent(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return text
    return f"{number * 100:g}%" if number <= 1 else f"{number:g}%"


def _authorization(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("required")
    return {"Y": "required", "N": "not required", "U": "payer cannot tell"}.get(
        str(value), _text(value)
    )


def _remaining(block: Mapping[str, Any] | None) -> str:
    if not block:
        return DASH
    for level in ("individual", "family"):
        values = block.get(level)
        if values and values.get("remaining") not in (None, ""):
            suffix = "" if level == "individual" else " fam"
            return f"{values['remaining']}{suffix}"
    return DASH


def pick_network(result: Mapping[str, Any], provider_network: str | None) -> str | None:
    """The network whose benefits apply: the estimate's, the provider's, else the first given."""
    networks: Mapping[str, Any] = result.get("networks") or {}
    estimate = result.get("estimate") or {}
    wanted = [estimate.get("network"), provider_network]
    for name in [*wanted, *NETWORK_ORDER]:
        if name and networks.get(name):
            return str(name)
    return None


def rejection_reason(rejections: Sequence[Mapping[str, Any]] | None) -> str:
    """AAA code and its meaning, for each rejection; codes only when no text is given."""
    parts = []
    for aaa in rejections or []:
        code = aaa.get("reject_reason") or aaa.get("code") or aaa.get("reason_code")
        text = aaa.get("description") or aaa.get("reason") or aaa.get("explanation")
        parts.append(f"AAA {code}: {text}" if text else f"AAA {code}")
    return "; ".join(parts)


def line_from_result(
    result: Mapping[str, Any],
    *,
    appointment_id: str,
    claim_id: str,
    payer_id: str,
    provider_network: str | None = None,
    reason: str = "",
) -> DemoLine:
    """A table line from one per-CPT result dict."""
    network = pick_network(result, provider_network)
    benefits: Mapping[str, Any] = (result.get("networks") or {}).get(network or "", {}) or {}
    estimate = result.get("estimate") or {}
    share = estimate.get("patient_pays")
    if share is None and estimate.get("missing"):
        share = "n/a (" + ", ".join(estimate["missing"]) + ")"
    why = reason or rejection_reason(result.get("rejections"))
    if not why:
        why = result_reason(dict(result), network, provider_network)
    return DemoLine(
        appointment_id=appointment_id,
        claim_id=claim_id,
        payer_id=payer_id,
        code=_code(str(result.get("code", "")), result.get("modifiers")),
        status=str(result.get("status", "unknown")),
        match=_text(result.get("match")),
        network=_text(network),
        copay=_amounts(benefits.get("copay"), "amount"),
        coinsurance=_amounts(benefits.get("coinsurance"), "percent", "amount"),
        deductible_remaining=_remaining(benefits.get("deductible")),
        oop_remaining=_remaining(benefits.get("out_of_pocket")),
        authorization=_authorization(benefits.get("authorization_required")),
        patient_share=_text(share),
        reason=why,
    )


def _pick(row: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in row and row[name] not in (None, ""):
            return row[name]
    return None


def line_from_report_row(row: Mapping[str, Any]) -> DemoLine:
    """A table line from one batch report row (CSV or JSON), whatever its column spelling."""
    code = str(_pick(row, "cpt", "code", "procedure") or "")
    modifiers = _pick(row, "modifiers")
    if isinstance(modifiers, str):
        modifiers = [m for m in modifiers.replace(";", ":").split(":") if m]
    if modifiers and ":" not in code:
        code = _code(code, modifiers)
    return DemoLine(
        appointment_id=_text(_pick(row, "appointment_id", "appointment")),
        claim_id=_text(_pick(row, "claim_id", "claim")),
        payer_id=_text(_pick(row, "payer_id", "payer")),
        code=code or DASH,
        status=str(_pick(row, "status", "procedure_status", "inquiry_status") or "unknown"),
        match=_text(_pick(row, "match")),
        network=_text(_pick(row, "network")),
        copay=_text(_pick(row, "copay")),
        coinsurance=_text(_pick(row, "coinsurance")),
        deductible_remaining=_text(_pick(row, "deductible_remaining")),
        oop_remaining=_text(_pick(row, "out_of_pocket_remaining", "oop_remaining")),
        authorization=_authorization(_pick(row, "authorization", "authorization_required")),
        patient_share=_text(_pick(row, "estimate", "patient_pays", "estimated_patient_share")),
        reason=str(_pick(row, "reason", "error") or ""),
    )


# Each column: header, justification and the line's value.
_COLUMNS: tuple[tuple[str, str, Callable[[DemoLine], str]], ...] = (
    ("Appointment", "left", lambda ln: ln.appointment_id),
    ("Claim", "left", lambda ln: ln.claim_id),
    ("Payer", "left", lambda ln: ln.payer_id),
    ("CPT", "left", lambda ln: ln.code),
    ("Status", "left", lambda ln: ln.status),
    ("Match", "left", lambda ln: ln.match),
    ("Network", "left", lambda ln: ln.network),
    ("Copay", "right", lambda ln: ln.copay),
    ("Coins.", "right", lambda ln: ln.coinsurance),
    ("Ded. left", "right", lambda ln: ln.deductible_remaining),
    ("OOP left", "right", lambda ln: ln.oop_remaining),
    ("Auth", "left", lambda ln: ln.authorization),
    ("Patient share", "right", lambda ln: ln.patient_share),
    ("Reason", "left", lambda ln: ln.reason),
)
# What a narrow terminal leaves out first (every column stays in report.csv and report.json).
DROP_ORDER = ("Match", "Claim", "Network", "OOP left", "Payer", "Ded. left", "Coins.", "Auth")
# The reason is what a front desk reads first on an odd line: room for it before any figure.
# Limitation: below about 90 columns the columns never left out (appointment, CPT, status,
# copay, patient share) leave the reason fewer characters than this, folded onto more lines.
REASON_MIN_WIDTH = 26
# Columns are parted by two spaces (no vertical borders, no padding at the edges).
COLUMN_GAP = 2


def columns_for_width(lines: Sequence[DemoLine], width: int | None) -> list[str]:
    """The columns to show in `width` characters: all of them for None or a wide terminal; else
    the least useful ones are left out, in `DROP_ORDER`, until the others fit at their widest
    beside `REASON_MIN_WIDTH` characters of reason."""
    names = [name for name, _, _ in _COLUMNS]
    if width is None:
        return names
    natural = {
        name: max([len(name), *(len(value(line)) for line in lines)]) for name, _, value in _COLUMNS
    }
    natural["Reason"] = REASON_MIN_WIDTH

    def needed(shown: list[str]) -> int:
        return sum(natural[n] for n in shown) + COLUMN_GAP * (len(shown) - 1)

    for name in DROP_ORDER:
        if needed(names) <= width:
            break
        names.remove(name)
    return names


def results_table(
    lines: Sequence[DemoLine],
    title: str = "Benefits per appointment and CPT",
    *,
    width: int | None = None,
) -> Table:
    """One line per appointment and CPT; the reason column explains every non-covered line.

    With `width` (the terminal's), the least useful columns are left out until the table fits
    (see `columns_for_width`) and the caption names them. Rich narrows the widest column (the
    reason) first, and long cells fold onto more lines rather than widen the table.
    """
    shown = columns_for_width(lines, width)
    table = _build(lines, shown)
    table.title = title
    left_out = [name for name, _, _ in _COLUMNS if name not in shown]
    if left_out:
        table.caption = (
            f"not shown at {width} columns: {', '.join(left_out)} (report.csv has every column)"
        )
    return table


def _build(lines: Sequence[DemoLine], shown: list[str]) -> Table:
    table = Table(
        title="Benefits per appointment and CPT",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        expand=False,
    )
    columns = [(name, justify, value) for name, justify, value in _COLUMNS if name in shown]
    for name, justify, _ in columns:
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            overflow="fold",
        )
    for line in lines:
        style = STATUS_STYLE.get(line.status.lower(), "")
        cells = []
        for name, _, value in columns:
            text = escape(value(line))
            if name == "Status" and style:
                text = f"[{style}]{text}[/]"
            cells.append(text)
        table.add_row(*cells)
    return table


def summary_table(summary: Summary) -> Table:
    """Rows, inquiries, payer calls, retries, bad rows and elapsed time."""
    table = Table(title="Summary", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("schedule rows", str(summary.rows))
    table.add_row("bad rows", str(summary.bad_rows))
    table.add_row("inquiries", str(summary.inquiries))
    table.add_row(
        "  completed / rejected / failed",
        f"{summary.completed} / {summary.rejected} / {summary.failed}",
    )
    table.add_row("payer calls", str(summary.payer_calls))
    table.add_row("retries", str(summary.retries))
    table.add_row("elapsed", f"{summary.elapsed_s:.1f} s")
    if summary.ignored_columns:
        table.add_row("ignored columns", escape(", ".join(summary.ignored_columns)))
    return table


def watch_batch(
    poll: Callable[[], BatchProgress],
    console: Console,
    *,
    timeout_s: float,
    interval_s: float = 0.2,
    label: str = "verifying appointments",
) -> BatchProgress:
    """Show a progress bar fed by `poll` until the batch is done or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    state = poll()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=max(state.inquiries, 1))
        while True:
            progress.update(task, total=max(state.inquiries, 1), completed=state.finished)
            if state.done or time.monotonic() >= deadline:
                return state
            time.sleep(interval_s)
            state = poll()
