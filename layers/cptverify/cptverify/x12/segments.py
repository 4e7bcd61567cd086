"""Tokenizer and envelope walker for any X12 interchange.

`tokenize` finds the delimiters in the ISA header by counting element separators (an ISA may be
a character short or long), splits the text into segments and elements with plain `str.split`,
and drops whitespace between segments. `walk_envelope` pairs ISA/GS/ST with IEA/GE/SE and
reports every envelope inconsistency as a warning carrying the segment position.

Positions are 1-based and count the segments we kept (ISA is 1); blank fragments between
terminators are not segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cptverify.x12.errors import NotX12Error, TruncatedInterchangeError
from cptverify.x12.model import ReadWarning

BOM = "\ufeff"
WHITESPACE = " \t\r\n\x0b\x0c"
ISA_ELEMENTS = 16
# Functional identifier (GS01) expected for each transaction set (ST01).
FUNCTIONAL_IDS = {"270": "HS", "271": "HB", "276": "HR", "277": "HN", "999": "FA", "997": "FA"}
ENVELOPE_IDS = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE", "TA1"})


@dataclass(slots=True, frozen=True)
class Delimiters:
    element: str
    component: str
    repetition: str | None
    terminator: str


@dataclass(slots=True)
class Tokens:
    """The segments of one interchange: `segments[i][0]` is the id, position is `i + 1`."""

    delimiters: Delimiters
    segments: list[list[str]]
    warnings: list[ReadWarning] = field(default_factory=list)
    version: str | None = None


@dataclass(slots=True)
class TransactionSpan:
    """Where one ST ... SE transaction sits in `Tokens.segments` (indexes, SE excluded)."""

    transaction_set: str
    control_number: str
    implementation: str | None
    start: int
    end: int
    group_version: str | None
    functional_id: str | None


@dataclass(slots=True)
class Envelope:
    transactions: list[TransactionSpan]
    warnings: list[ReadWarning]
    ta1_count: int = 0


# Byte-order marks of the wider Unicode encodings, longest first (UTF-32 LE starts like UTF-16 LE).
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    if data[:1] in (b"\xff", b"\xfe", b"\x00"):
        for bom, encoding in _WIDE_BOMS:
            if data.startswith(bom):
                return data[len(bom) :].decode(encoding, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _isa_layout(text: str, start: int) -> tuple[str, int]:
    """Element separator and the index of the character just after ISA16's separator."""
    if len(text) < start + 4:
        raise TruncatedInterchangeError("input ends inside the ISA header", segment=1)
    sep = text[start + 3]
    if sep.isalnum() or sep in WHITESPACE:
        raise NotX12Error("ISA is not followed by an element separator", segment=1)
    pos = start + 3
    for _ in range(ISA_ELEMENTS - 1):
        pos = text.find(sep, pos + 1)
        if pos < 0:
            raise TruncatedInterchangeError("input ends inside the ISA header", segment=1)
    return sep, pos + 1


def tokenize(data: bytes | str) -> Tokens:
    """Split an X12 interchange into segments, with the delimiters read from its ISA.

    Whitespace around a segment, and around elements (spaces or tabs next to a separator), is
    removed; whitespace inside an element is kept.
    """
    text = _decode(data)
    start = 0
    length = len(text)
    while start < length and (text[start] == BOM or text[start] in WHITESPACE):
        start += 1
    if not text.startswith("ISA", start):
        raise NotX12Error("input does not start with an ISA segment", segment=1)

    sep, after = _isa_layout(text, start)
    if after >= length:
        raise TruncatedInterchangeError("input ends inside the ISA header", segment=1)
    component = text[after]
    terminator = text[after + 1] if after + 1 < length else ""
    if not terminator:
        raise TruncatedInterchangeError("input ends before the ISA segment terminator", segment=1)
    if terminator.isalnum() or terminator == sep or terminator == " ":
        raise NotX12Error("no valid segment terminator after ISA16", segment=1)
    if component.isalnum() or component == sep:
        raise NotX12Error("ISA16 is not a valid component separator", segment=1)
    if component == terminator:
        raise NotX12Error("ISA16 and the segment terminator are the same character", segment=1)

    warnings: list[ReadWarning] = []
    isa = text[start : after + 1].split(sep)
    isa11 = isa[11] if len(isa) > 11 else ""
    version = isa[12].strip() if len(isa) > 12 else ""
    repetition: str | None = None
    if version >= "00402" and version.isdigit():
        if len(isa11) == 1 and not isa11.isalnum() and isa11 not in WHITESPACE and isa11 != sep:
            repetition = isa11
            if isa11 == terminator:
                repetition = None
                warnings.append(
                    ReadWarning("isa11_invalid", "ISA11 equals the segment terminator", 1)
                )
        else:
            warnings.append(
                ReadWarning(
                    "isa11_invalid",
                    "ISA11 is not a valid repetition separator for ISA12 00402 or later; "
                    "elements are not split on it",
                    1,
                )
            )
    if repetition is not None and repetition == component:
        warnings.append(
            ReadWarning(
                "isa11_equals_isa16",
                "ISA11 and ISA16 are the same character; repetitions are split only in "
                "repeating simple elements",
                1,
            )
        )

    isa_elements = [element.strip(WHITESPACE) for element in isa]
    isa_elements[0] = "ISA"
    segments: list[list[str]] = [isa_elements]
    append = segments.append
    # Whitespace after the last segment (most often a final newline) is dropped first, so a
    # file ending in a newline still takes the fast path below.
    body = text[after + 2 :].rstrip(WHITESPACE)
    # Characters just before and just after each space, found in one split: several times faster
    # than searching the body for each of " *", "* ", " ~" and "~ ".
    spaced: set[str] = set()
    if " " in body:
        parts = body.split(" ")
        spaced = {part[-1:] for part in parts[:-1]} | {part[:1] for part in parts[1:]}
    # Elements are trimmed only when some whitespace touches a separator (rare, so checked once).
    trim = "\t" in body or sep in spaced
    clean = not (
        trim
        or "\n" in body
        or "\r" in body
        or "\x0b" in body
        or "\x0c" in body
        or terminator in spaced
        or body[:1] == " "
    )
    if clean:
        # No whitespace touches a terminator, so no piece needs trimming.
        pieces = body.split(terminator)
        if pieces and not pieces[-1]:
            pieces.pop()
        if "" in pieces:
            pieces = [piece for piece in pieces if piece]
    else:
        pieces = [p for p in (raw.strip(WHITESPACE) for raw in body.split(terminator)) if p]
    if trim:
        split = [[element.strip(WHITESPACE) for element in p.split(sep)] for p in pieces]
    else:
        split = [p.split(sep) for p in pieces]
    ids = {elements[0] for elements in split}
    if all(1 < len(seg_id) < 4 and seg_id.isalnum() and seg_id.isupper() for seg_id in ids):
        segments.extend(split)
    else:
        for elements in split:
            seg_id = elements[0]
            if not (1 < len(seg_id) < 4 and seg_id.isalnum()):
                warnings.append(
                    ReadWarning(
                        "segment_id_invalid",
                        "a fragment without a valid segment id was skipped",
                        len(segments) + 1,
                    )
                )
                continue
            elements[0] = seg_id.upper()
            append(elements)
    if not segments or segments[0][0] != "ISA":
        raise NotX12Error("input does not start with an ISA segment", segment=1)
    delimiters = Delimiters(sep, component, repetition, terminator)
    return Tokens(delimiters, segments, warnings, version or None)


def _el(seg: list[str], i: int) -> str:
    return seg[i].strip() if len(seg) > i else ""


def walk_envelope(tokens: Tokens) -> Envelope:
    """Pair the envelope segments and warn, with positions, about every inconsistency."""
    segs = tokens.segments
    warnings: list[ReadWarning] = []
    spans: list[TransactionSpan] = []
    isa = segs[0]
    gs_count = 0
    ta1_count = 0
    gs: list[str] | None = None
    gs_pos = 0
    st_in_group = 0
    st: list[str] | None = None
    st_index = 0
    iea_seen = False
    isa_major = (tokens.version or "")[:3]
    for index in range(1, len(segs)):
        seg = segs[index]
        seg_id = seg[0]
        pos = index + 1
        if seg_id not in ENVELOPE_IDS:
            if st is None:
                warnings.append(
                    ReadWarning("outside_transaction", "segment outside any ST/SE pair", pos)
                )
            continue
        if seg_id == "ST":
            if st is not None:
                warnings.append(
                    ReadWarning("se_missing", "transaction closed by ST without SE", pos)
                )
                spans.append(_span(st, st_index, index, gs))
            if gs is None:
                warnings.append(ReadWarning("gs_missing", "ST outside a GS/GE group", pos))
            st = seg
            st_index = index
            st_in_group += 1
            _check_st(seg, gs, pos, isa_major, warnings)
        elif seg_id == "SE":
            if st is None:
                warnings.append(ReadWarning("st_missing", "SE without a matching ST", pos))
                continue
            count = index - st_index + 1
            if _el(seg, 1) != str(count):
                warnings.append(
                    ReadWarning(
                        "se_count",
                        f"SE01 does not match the {count} segments counted from ST to SE",
                        pos,
                    )
                )
            if _el(seg, 2) != _el(st, 2):
                warnings.append(ReadWarning("se_control_number", "SE02 does not match ST02", pos))
            spans.append(_span(st, st_index, index, gs))
            st = None
        elif seg_id == "GS":
            if st is not None:
                warnings.append(ReadWarning("se_missing", "transaction closed by GS", pos))
                spans.append(_span(st, st_index, index, gs))
                st = None
            if gs is not None:
                warnings.append(ReadWarning("ge_missing", "group closed by GS without GE", pos))
            gs = seg
            gs_pos = pos
            gs_count += 1
            st_in_group = 0
        elif seg_id == "GE":
            if st is not None:
                warnings.append(ReadWarning("se_missing", "transaction closed by GE", pos))
                spans.append(_span(st, st_index, index, gs))
                st = None
            if gs is None:
                warnings.append(ReadWarning("gs_missing", "GE without a matching GS", pos))
                continue
            if _el(seg, 1) != str(st_in_group):
                warnings.append(
                    ReadWarning(
                        "ge_count",
                        f"GE01 does not match the {st_in_group} transactions in the group",
                        pos,
                    )
                )
            if _el(seg, 2) != _el(gs, 6):
                warnings.append(ReadWarning("ge_control_number", "GE02 does not match GS06", pos))
            gs = None
        elif seg_id == "IEA":
            if st is not None:
                warnings.append(ReadWarning("se_missing", "transaction closed by IEA", pos))
                spans.append(_span(st, st_index, index, gs))
                st = None
            if gs is not None:
                warnings.append(ReadWarning("ge_missing", "group closed by IEA", gs_pos))
                gs = None
            iea_seen = True
            if _el(seg, 1) != str(gs_count):
                warnings.append(
                    ReadWarning(
                        "iea_count",
                        f"IEA01 does not match the {gs_count} functional groups",
                        pos,
                    )
                )
            if _el(seg, 2) != _el(isa, 13):
                warnings.append(
                    ReadWarning("iea_control_number", "IEA02 does not match ISA13", pos)
                )
        elif seg_id == "TA1":
            ta1_count += 1
            warnings.append(
                ReadWarning("ta1_present", "interchange acknowledgment (TA1) present", pos)
            )
        elif seg_id == "ISA":
            # A second interchange in the same file (same delimiters): its transactions are read
            # too, and its GS count and ISA13 are checked against its own IEA.
            # Limitation: a second interchange with other delimiters than the first is not
            # split by its own ISA; its segments surface as segment_id_invalid warnings.
            warnings.append(ReadWarning("isa_repeated", "a second ISA inside the interchange", pos))
            # Inside an open transaction a stray ISA closes nothing (its segments stay read).
            if st is None:
                if gs is not None:
                    warnings.append(ReadWarning("ge_missing", "group closed by ISA", gs_pos))
                    gs = None
                if not iea_seen:
                    warnings.append(ReadWarning("iea_missing", "interchange closed by ISA", pos))
                isa = seg
                gs_count = 0
                iea_seen = False
    end = len(segs)
    if st is not None:
        warnings.append(ReadWarning("se_missing", "transaction not closed by SE", end))
        spans.append(_span(st, st_index, end, gs))
    if gs is not None:
        warnings.append(ReadWarning("ge_missing", "functional group not closed by GE", gs_pos))
    if not iea_seen:
        warnings.append(ReadWarning("iea_missing", "interchange not closed by IEA", end))
    return Envelope(spans, warnings, ta1_count)


def _check_st(
    st: list[str], gs: list[str] | None, pos: int, isa_major: str, out: list[ReadWarning]
) -> None:
    if gs is None:
        return
    st03 = _el(st, 3)
    gs08 = _el(gs, 8)
    if st03 and gs08 and st03 != gs08:
        out.append(ReadWarning("version_mismatch", "ST03 does not match GS08", pos))
    guide = st03 or gs08
    if isa_major in ("004", "005") and guide[:3] in ("004", "005") and guide[:3] != isa_major:
        out.append(
            ReadWarning("version_mismatch", "ISA12 and the implementation version differ", pos)
        )
    expected = FUNCTIONAL_IDS.get(_el(st, 1))
    if expected is not None and _el(gs, 1) != expected:
        out.append(
            ReadWarning(
                "gs01_functional_id",
                f"GS01 should be {expected} for a {_el(st, 1)} transaction",
                pos,
            )
        )


def _span(st: list[str], start: int, end: int, gs: list[str] | None) -> TransactionSpan:
    return TransactionSpan(
        transaction_set=_el(st, 1),
        control_number=_el(st, 2),
        implementation=_el(st, 3) or None,
        start=start,
        end=end,
        group_version=_el(gs, 8) or None if gs is not None else None,
        functional_id=_el(gs, 1) or None if gs is not None else None,
    )
