"""Rows of the same patient, payer, date of service and provider become one inquiry.

Each row keeps its own claim id: an inquiry carries `lines`, one per procedure, each naming the
row, appointment, claim and claim line it answers. Lines of one claim are numbered 1, 2, ... in
file order, so the same CPT twice on a claim never collides. A row identical to an earlier one
(every cell the same) is a duplicate: it is listed in the error report and verified once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cptverify.inquiry import MAX_PROCEDURES
from cptverify.schedules.columns import RawRow
from cptverify.schedules.rows import ProcedureLine, RowProblem, ScheduleRow, procedure_json


@dataclass(frozen=True, slots=True)
class Line:
    """One appointment procedure: where it came from and which result item answers it."""

    row: int
    appointment_id: str
    claim_id: str
    line: int
    code: str
    modifiers: tuple[str, ...]
    allowed_amount: str | None
    inquiry_id: str
    payer_id: str = ""

    def to_item(self) -> dict[str, Any]:
        """The line as one compact JSON attribute (a 10,000-row batch writes many of these)."""
        return {
            "line": json.dumps(
                [
                    self.row,
                    self.appointment_id,
                    self.claim_id,
                    self.line,
                    self.code,
                    list(self.modifiers),
                    self.allowed_amount,
                    self.inquiry_id,
                    self.payer_id,
                ],
                separators=(",", ":"),
            )
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Line:
        row, appointment, claim, line, code, mods, amount, inquiry, payer = json.loads(
            str(item["line"])
        )
        return cls(
            row=int(row),
            appointment_id=str(appointment),
            claim_id=str(claim),
            line=int(line),
            code=str(code),
            modifiers=tuple(mods),
            allowed_amount=amount,
            inquiry_id=str(inquiry),
            payer_id=str(payer),
        )


@dataclass(slots=True)
class PlannedInquiry:
    """One inquiry of the batch: the first row's patient and visit, every grouped procedure."""

    inquiry_id: str
    identity: tuple[str, ...]
    body: dict[str, Any]
    lines: list[Line] = field(default_factory=list)

    def inquiry_body(self) -> dict[str, Any]:
        """The inquiry JSON with all grouped procedures (claim id: the first row's)."""
        procedures = [
            procedure_json(ProcedureLine(ln.code, ln.modifiers, ln.allowed_amount))
            for ln in self.lines
        ]
        return {**self.body, "procedures": procedures}


def row_fingerprint(raw: RawRow) -> bytes:
    """A digest of a row's cells, to spot an exact duplicate without keeping the row."""
    digest = hashlib.blake2b(digest_size=16)
    for column in sorted(raw.cells):
        digest.update(column.encode())
        digest.update(b"\x1f")
        digest.update(" ".join(raw.cells[column].upper().split()).encode())
        digest.update(b"\x1e")
    return digest.digest()


class Grouper:
    """Collects valid rows into inquiries, numbering claim lines and spotting duplicates.

    Only what the inquiries need is kept: one body per inquiry and a small `Line` per procedure.
    """

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self.inquiries: dict[tuple[str, ...], PlannedInquiry] = {}
        self._parts: dict[tuple[str, ...], int] = {}
        self._claim_lines: dict[str, int] = {}
        self._seen: dict[bytes, int] = {}

    def duplicate_of(self, raw: RawRow) -> RowProblem | None:
        """A problem naming the earlier identical row, or None (and remember this one)."""
        fingerprint = row_fingerprint(raw)
        first = self._seen.get(fingerprint)
        if first is None:
            self._seen[fingerprint] = raw.number
            return None
        appointment_id = raw.get("appointment_id")[:64]
        return RowProblem(
            row=raw.number,
            appointment_id=appointment_id,
            claim_id=(raw.get("claim_id") or appointment_id)[:64],
            column="row",
            reason=f"duplicate of row {first}; verified once",
        )

    def add(self, row: ScheduleRow) -> tuple[PlannedInquiry, list[Line], bool]:
        """File a valid row; return its inquiry, its new lines, and whether the inquiry is new."""
        # A visit whose procedures would pass what one inquiry takes goes on in a further
        # inquiry of its own (its own freshness key), starting at a row boundary.
        part = self._parts.get(row.identity, 0)
        identity = row.identity if not part else (*row.identity, f"part {part + 1}")
        planned = self.inquiries.get(identity)
        if planned is not None and len(planned.lines) + len(row.procedures) > MAX_PROCEDURES:
            part += 1
            self._parts[row.identity] = part
            identity = (*row.identity, f"part {part + 1}")
            planned = None
        created = planned is None
        if planned is None:
            # Limitation: a visit's provider network is its first row's; a later row of the same
            # visit naming another network does not split it.
            inquiry_id = f"{self.batch_id}-{len(self.inquiries) + 1:05d}"
            body = {k: v for k, v in row.body.items() if k != "procedures"}
            planned = PlannedInquiry(inquiry_id, identity, body)
            self.inquiries[identity] = planned
        new_lines = []
        for procedure in row.procedures:
            number = self._claim_lines.get(row.claim_id, 0) + 1
            self._claim_lines[row.claim_id] = number
            new_lines.append(
                Line(
                    row=row.number,
                    appointment_id=row.appointment_id,
                    claim_id=row.claim_id,
                    line=number,
                    code=procedure.code,
                    modifiers=procedure.modifiers,
                    allowed_amount=procedure.allowed_amount,
                    inquiry_id=planned.inquiry_id,
                    payer_id=str(row.body["payer"]["id"]),
                )
            )
        planned.lines.extend(new_lines)
        return planned, new_lines, created
