"""Property tests: valid 271s mutated at random give a result or a typed error, nothing else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cptverify.x12.errors import X12Error
from cptverify.x12.json_view import interchange_to_dict
from cptverify.x12.reader271 import read_271
from tests.x12.builders import CANARY_DOB, CANARY_LAST, CANARY_MEMBER, make_271

CANARIES = (CANARY_LAST, CANARY_MEMBER, CANARY_DOB)

SEEDS = [
    make_271(),
    make_271(terminator="\n"),
    make_271(element="|", component=">", repetition="!"),
    make_271(repetition="U", version="00401", implementation=""),
]
ALPHABET = "*:^~|>!\n\r\t 0123456789ABCDEFGHILMNPRSTUXYZ-."


def read_or_typed_error(text: str | bytes) -> None:
    try:
        ic = read_271(text)
    except X12Error as exc:
        assert not any(canary in str(exc) for canary in CANARIES)
        return
    interchange_to_dict(ic)
    messages = " ".join(w.message for w in ic.warnings)
    assert not any(canary in messages for canary in CANARIES)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "cut", "swap_segments"]))
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        if kind == "replace" and text:
            text = text[:at] + draw(st.sampled_from(ALPHABET)) + text[at + 1 :]
        elif kind == "insert":
            text = text[:at] + draw(st.text(ALPHABET, max_size=12)) + text[at:]
        elif kind == "delete":
            span = draw(st.integers(1, 40))
            text = text[:at] + text[at + span :]
        elif kind == "cut":
            text = text[:at]
        else:
            parts = text.split("~")
            if len(parts) > 3:
                i = draw(st.integers(1, len(parts) - 2))
                j = draw(st.integers(1, len(parts) - 2))
                parts[i], parts[j] = parts[j], parts[i]
                text = "~".join(parts)
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_271_reads_or_raises_typed_error(text: str) -> None:
    read_or_typed_error(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    read_or_typed_error(b"ISA*00*" + data)
    read_or_typed_error(data)
