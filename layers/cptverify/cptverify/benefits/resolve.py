"""Resolve what a patient's 271 says about each requested procedure code.

Payers rarely answer per CPT: most answer per service type, some per procedure (EB13), some only
for the whole plan, and one value may come from each level. So every kind of benefit (copay,
coinsurance, deductible, out-of-pocket, limits, authorization, non-coverage) is resolved on its
own and per network bucket: the rows whose EB13 is this procedure, else the rows of the first of
its crosswalked service types (ordered, most specific first) that has rows of that kind, else the
plan-level rows (service type 30 or none). Every value keeps its source level. See
the README ("Per-procedure resolution") for the rules in full.

A patient's rows are grouped once per call, and what one level says (its rows per network and
kind, the values built from them, their notes) is worked out once and shared by every requested
procedure that uses the same rows; results therefore share immutable parts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from cptverify.benefits.estimate import PROVIDER_NETWORKS, estimate_share
from cptverify.benefits.result import (
    NETWORK_NAMES,
    Accumulator,
    Authorization,
    CoinsuranceEntry,
    CopayEntry,
    LimitEntry,
    NetworkBenefits,
    NetworkName,
    ProcedureResult,
    Source,
    Status,
    format_amount,
)
from cptverify.x12.model import Aaa, Benefit, Patient

Network = Literal["in", "out", "unknown"]
CrosswalkFn = Callable[[str, str, tuple[str, ...]], Iterable[str]]

_NETWORK_OF_EB12: dict[str | None, NetworkName] = {"Y": "in", "N": "out", "W": "both"}
_KIND_OF_EB01 = {
    "B": "copay",
    "A": "coinsurance",
    "C": "deductible",
    "G": "out_of_pocket",
    "F": "limit",
    "I": "not_covered",
    "D": "description",
    "1": "active",
    "2": "active",
    "3": "active",
    "4": "active",
    "5": "active",
}
# A code sent in lower case (a careless payer) reads as its upper-case self: extra keys, so the
# look-ups per row cost nothing more.
_KIND_OF_EB01.update({eb01.lower(): kind for eb01, kind in list(_KIND_OF_EB01.items())})
_NETWORK_OF_EB12.update({"y": "in", "n": "out", "w": "both"})
# The kinds one row speaks for, by EB01: its kind, and authorization when it carries EB11 (an
# EB01 of no kind here speaks for authorization alone, or for nothing).
_SPEAKS: dict[str, tuple[str, ...]] = {eb01: (kind,) for eb01, kind in _KIND_OF_EB01.items()}
_SPEAKS_WITH_AUTHORIZATION: dict[str, tuple[str, ...]] = {
    eb01: (kind, "authorization") for eb01, kind in _KIND_OF_EB01.items()
}
_NOTHING: tuple[str, ...] = ()
_AUTHORIZATION_ONLY = ("authorization",)
# EB02 values for one person; every other coverage level (FAM, ESP, ECH, ...) counts as family.
_INDIVIDUAL_LEVELS = frozenset({None, "", "IND", "EMP", "ind", "emp"})
_TOTAL_PERIODS = ("23", "22", "25", None, "32")
_REMAINING_PERIODS = ("29", "33")
_MET_PERIOD = "24"
_USED_PERIODS = frozenset((*_TOTAL_PERIODS, *_REMAINING_PERIODS, _MET_PERIOD))
_SENTINEL_FLOOR = Decimal("99999")
_NEGATIVE_FLOOR = -_SENTINEL_FLOOR
_SENTINEL_CENTS: tuple[set[str], ...] = (set(), {"9"}, {"0"})
_NO_SERVICE_TYPE_NOTE = (
    "no specific service type is known for this code; only procedure-level and "
    "plan-level rows were used"
)


def is_sentinel(amount: Decimal) -> bool:
    """True for payer placeholders meaning "not applicable" (99999.99, 999999, 9999999.99, ...).

    The rule: at least five nines before the decimal point and nothing but nines or zeros after.
    """
    if -_SENTINEL_FLOOR < amount < _SENTINEL_FLOOR:
        return False
    text = format(abs(amount), "f")
    whole, _, cents = text.partition(".")
    return len(whole) >= 5 and set(whole) == {"9"} and set(cents) in _SENTINEL_CENTS


@dataclass(slots=True, frozen=True)
class ProcedureRequest:
    """One procedure to resolve: code, qualifier (HC for CPT/HCPCS, AD for CDT), modifiers,
    the allowed amount for an estimate, and optionally the service types to use instead of the
    crosswalk (when the inquiry named them)."""

    code: str
    qualifier: str = "HC"
    modifiers: tuple[str, ...] = ()
    allowed_amount: Decimal | None = None
    service_types: tuple[str, ...] | None = None


# Where a kind's value goes among a bucket's slots: the fields of `NetworkBenefits`, except that
# the messages of coverage rows are kept per kind (1-5, D, I) until the bucket is assembled.
_SLOT_OF_KIND = {
    "copay": 0,
    "coinsurance": 1,
    "deductible": 2,  # and 3: individual, family
    "out_of_pocket": 4,  # and 5
    "limit": 6,
    "authorization": 7,
    "active": 8,
    "description": 9,
    "not_covered": 10,
}
_EMPTY_SLOTS: tuple[Any, ...] = ((), (), None, None, None, None, (), None, (), (), ())
_NO_NOTES: tuple[str, ...] = ()
_new = tuple.__new__
# A bucket and the notes building it produced.
_Bucket = tuple[NetworkBenefits | None, tuple[str, ...]]
# A row classified once per call: its position, the row, its network bucket and the kinds it
# speaks for (its EB01 kind first, then authorization when it carries EB11).
_Row = tuple[int, Benefit, str, tuple[str, ...]]
_NETWORKS = tuple(NETWORK_NAMES)


def _bucket(slots: list[Any]) -> NetworkBenefits | None:
    """A network bucket from its slots; None when it holds nothing."""
    messages = slots[8]
    if slots[9] or slots[10]:
        # Each message once, in the order first sent (a dict: a payer may send thousands).
        messages = tuple(dict.fromkeys((*messages, *slots[9], *slots[10])))
    parts = (*slots[:8], messages)
    return _new(NetworkBenefits, parts) if any(parts) else None


class _Level:
    """The rows of one level (procedure, service type or plan) grouped per network and kind,
    in the order the kinds first appear, with what is built from them remembered."""

    __slots__ = ("kinds", "coverage", "refused", "errors", "answer", "_built", "_buckets")

    def __init__(self, rows: Iterable[_Row]) -> None:
        # Per network, per kind: the rows.
        kinds: dict[str, dict[str, list[Benefit]]] = {}
        # (kind, network) of the rows that say whether the service is covered (1-5 and I).
        coverage: list[tuple[str, str]] = []
        errors: dict[int, list[Aaa]] = {}
        refused = False
        for position, benefit, network, speaks in rows:
            if benefit.errors:
                errors[position] = benefit.errors
            if not speaks:
                continue
            by_kind = kinds.get(network)
            if by_kind is None:
                by_kind = kinds[network] = {}
            for kind in speaks:
                found = by_kind.get(kind)
                if found is None:
                    by_kind[kind] = [benefit]
                else:
                    found.append(benefit)
            kind = speaks[0]
            if kind == "active":
                coverage.append(("active", network))
            elif kind == "not_covered":
                coverage.append(("not_covered", network))
                refused = True
        self.kinds = kinds
        self.coverage = coverage
        self.refused = refused
        self.errors = errors
        # For a service-type level: the answer when no procedure-level row applies.
        self.answer: _Answer | None = None
        # What `built` and `_PatientIndex._over_plan` remember, made when first needed.
        self._built: dict[tuple[str, str], tuple[Any, tuple[str, ...]]] | None = None
        self._buckets: dict[str, _Bucket] | None = None

    def built(self, network: str, kind: str) -> tuple[Any, tuple[str, ...]]:
        """The value this service-type level gives `kind` in `network` and its notes, built
        once."""
        key = (network, kind)
        built = self._built
        if built is None:
            built = self._built = {}
        done = built.get(key)
        if done is None:
            notes: list[str] = []
            value = _BUILDERS[kind](
                self.kinds[network][kind], "service_type", _NETWORK_LABEL[network], notes
            )
            done = built[key] = (value, tuple(notes) if notes else _NO_NOTES)
        return done


def _ordered(singles: list[_Level]) -> _Level:
    """The service-type level of several service types, most specific first: per network and
    kind the rows of the first type with such rows; coverage rows from the first type with any;
    the errors of all."""
    # Limitation: an AAA on a row of a later service type rejects the procedure even when an
    # earlier type answered every kind (a payer error is never hidden); the result does not
    # say which service type answered each entry, only `source`.
    level = _Level(())
    kinds = level.kinds
    for single in singles:
        for network, by_kind in single.kinds.items():
            into = kinds.get(network)
            if into is None:
                into = kinds[network] = {}
            for kind, rows in by_kind.items():
                if kind not in into:
                    into[kind] = rows
        if not level.coverage and single.coverage:
            level.coverage = single.coverage
            level.refused = single.refused
        level.errors.update(single.errors)
    return level


class _Answer:
    """What a procedure resolves to apart from the request itself; shared by the requests of a
    patient that select the same rows (immutable parts only)."""

    __slots__ = ("match", "status", "notes", "networks", "rejections", "refused")

    def __init__(
        self,
        match: Source | None,
        status: Status,
        notes: tuple[str, ...],
        networks: dict[str, NetworkBenefits | None],
        rejections: tuple[Aaa, ...],
        refused: tuple[str, ...] = (),
    ) -> None:
        self.match = match
        self.status = status
        self.notes = notes
        self.networks = networks
        self.rejections = rejections
        # The networks a covered procedure is refused in (EB I for one network only).
        self.refused = refused


_EMPTY_LEVEL = _Level(())


class _PatientIndex:
    """A patient's rows classified once (network, kinds) and grouped: by procedure code, by
    service type, and the plan level (built at once: every procedure falls back to it).
    Service-type levels, buckets and answers are remembered for the other requests."""

    __slots__ = (
        "patient_status",
        "network",
        "base_rejections",
        "by_code",
        "restricted",
        "by_service_type",
        "plan",
        "plan_any",
        "plan_slots",
        "plan_notes",
        "plan_buckets",
        "service_type_levels",
        "_levels",
    )

    def __init__(
        self,
        patient: Patient,
        transaction_rejections: Sequence[Aaa],
        codes: Collection[str],
        service_types: Collection[str],
        network: str = "unknown",
    ) -> None:
        """Classify and group the rows that can matter: procedure-level rows of the requested
        `codes` (upper case), service-type rows of the requested `service_types`, plan-level
        rows. A row that speaks for no kind and carries no error is dropped. `network` is the
        provider's (a refusal in another network only does not refuse the service)."""
        self.patient_status = patient.coverage_status
        self.network = network
        self.base_rejections = (*transaction_rejections, *patient.errors)
        by_code: dict[str, list[_Row]] = {}
        # Codes with a row that not every request for the code takes (modifiers, a qualifier
        # other than HC): their rows are checked one by one against each request.
        restricted: set[str] = set()
        by_service_type: dict[str, list[_Row]] = {}
        # The plan level is grouped here at once (per network, per kind), not row by row again.
        self.plan = level = _Level(())
        plan_kinds, plan_errors = level.kinds, level.errors
        plan_any = False
        network_of, plain, with_auth = _NETWORK_OF_EB12, _SPEAKS, _SPEAKS_WITH_AUTHORIZATION
        for position, benefit in enumerate(patient.benefits):
            proc = benefit.procedure
            if proc is not None:
                code = proc.code
                if code not in codes:
                    code = code.upper()
                    if code not in codes:
                        continue
                speaks = (
                    with_auth.get(benefit.code, _AUTHORIZATION_ONLY)
                    if benefit.authorization_required
                    else plain.get(benefit.code, _NOTHING)
                )
                if not speaks and not benefit.errors:
                    continue
                row = (
                    position,
                    benefit,
                    network_of.get(benefit.in_plan_network, "unspecified"),
                    speaks,
                )
                same = by_code.get(code)
                if same is None:
                    by_code[code] = [row]
                else:
                    same.append(row)
                qualifier = proc.qualifier
                if proc.modifiers or (
                    qualifier and qualifier != "HC" and qualifier.upper() != "HC"
                ):
                    restricted.add(code)
                continue
            sts = benefit.service_types
            at_plan = not sts or "30" in sts
            if at_plan:
                plan_any = True
            speaks = (
                with_auth.get(benefit.code, _AUTHORIZATION_ONLY)
                if benefit.authorization_required
                else plain.get(benefit.code, _NOTHING)
            )
            errors = benefit.errors
            if not speaks and not errors:
                continue
            network = network_of.get(benefit.in_plan_network, "unspecified")
            if at_plan:
                if errors:
                    plan_errors[position] = errors
                if speaks:
                    by_kind = plan_kinds.get(network)
                    if by_kind is None:
                        by_kind = plan_kinds[network] = {}
                    for kind in speaks:
                        same_kind = by_kind.get(kind)
                        if same_kind is None:
                            by_kind[kind] = [benefit]
                        else:
                            same_kind.append(benefit)
                if len(sts) < 2:
                    continue
            row = (position, benefit, network, speaks)
            for st in sts:
                if st in service_types:
                    rows = by_service_type.get(st)
                    if rows is None:
                        by_service_type[st] = [row]
                    elif rows[-1] is not row:  # an EB03 repeating a service type counts once
                        rows.append(row)
        self.by_code = by_code
        self.restricted = restricted
        self.by_service_type = by_service_type
        self.plan_any = plan_any

        # What the plan level says, per network: every kind's value and the notes of each
        # (kept only for networks where building gave notes).
        plan_slots: dict[str, list[Any]] = {}
        plan_notes: dict[str, list[tuple[str, list[str]]]] = {}
        slot_of = _SLOT_OF_KIND
        for bucket_name, by_kind in level.kinds.items():
            slots = list(_EMPTY_SLOTS)
            kind_notes: list[tuple[str, list[str]]] = []
            where = _NETWORK_LABEL[bucket_name]
            for kind, kind_rows in by_kind.items():
                notes: list[str] = []
                value = _BUILDERS[kind](kind_rows, "plan", where, notes)
                index = slot_of[kind]
                if index == 2 or index == 4:
                    slots[index], slots[index + 1] = value
                else:
                    slots[index] = value
                if notes:
                    kind_notes.append((kind, notes))
            plan_slots[bucket_name] = slots
            if kind_notes:
                plan_notes[bucket_name] = kind_notes
        self.plan_slots = plan_slots
        self.plan_notes = plan_notes
        # Each network's bucket where neither a procedure-level nor a service-type row speaks.
        plan_buckets: dict[str, _Bucket] = {}
        for network in _NETWORKS:
            built = plan_slots.get(network)
            if built is None:
                plan_buckets[network] = (None, _NO_NOTES)
            else:
                notes = [n for _, sent in plan_notes.get(network, []) for n in sent]
                plan_buckets[network] = (_bucket(built), tuple(notes) if notes else _NO_NOTES)
        self.plan_buckets = plan_buckets
        self.service_type_levels: dict[tuple[str, ...], _Level] = {}
        self._levels: dict[tuple[str, ...], _Level] = {}

    def procedure_level(self, code: str, request: ProcedureRequest) -> _Level | None:
        """Rows whose EB13 is this procedure (same code and qualifier, modifiers that match)."""
        rows = self.by_code.get(code)
        if not rows:
            return None
        qualifier = request.qualifier
        if code not in self.restricted and (qualifier == "HC" or qualifier.upper() == "HC"):
            return _Level(rows)
        qualifier = qualifier.upper()
        wanted: set[str] | None = None
        found = []
        for row in rows:
            proc = row[1].procedure
            assert proc is not None
            if proc.qualifier and proc.qualifier.upper() != qualifier:
                continue
            if proc.modifiers:
                # Modifiers match in any case, in any order (`gp:59` is the request's 59 GP).
                if wanted is None:
                    wanted = set(request.modifiers)
                    if not all(m.isascii() and m == m.strip().upper() for m in wanted):
                        wanted = {m.strip().upper() for m in wanted}
                if not wanted.issuperset(proc.modifiers) and not wanted.issuperset(
                    [m.upper() for m in proc.modifiers]
                ):
                    continue
            found.append(row)
        return _Level(found) if found else None

    def service_type_level(self, wanted: tuple[str, ...]) -> _Level:
        """The service-type level of these service types (most specific first): per network
        and kind, the rows of the first service type that has rows of that kind; one per
        distinct list of service types with rows."""
        level = self.service_type_levels.get(wanted)
        if level is None:
            by_service_type = self.by_service_type
            present = tuple([st for st in wanted if st in by_service_type])
            level = self._levels.get(present)
            if level is None:
                if not present:
                    level = _Level(())
                else:
                    singles = []
                    for st in present:
                        single = self._levels.get((st,))
                        if single is None:
                            single = self._levels[(st,)] = _Level(by_service_type[st])
                        singles.append(single)
                    level = singles[0] if len(singles) == 1 else _ordered(singles)
                self._levels[present] = level
            self.service_type_levels[wanted] = level
        return level

    def resolve(self, proc: _Level | None, st: _Level) -> _Answer:
        """What the procedure level (None: no row for the code) and service-type level say."""
        plan = self.plan
        # `match`: the most specific level with a row speaking for some kind; the plan level
        # answers whenever it has rows at all.
        match: Source | None
        proc_kinds = proc.kinds if proc is not None else None
        if proc_kinds:
            match = "procedure"
        elif st.kinds:
            match = "service_type"
        elif self.plan_any:
            match = "plan"
        else:
            match = None

        rejections = self.base_rejections
        if (proc is not None and proc.errors) or st.errors or plan.errors:
            errors_at = {**st.errors, **plan.errors}
            if proc is not None:
                errors_at.update(proc.errors)
            rejections = (
                *rejections,
                *[aaa for position in sorted(errors_at) for aaa in errors_at[position]],
            )

        notes: list[str] = []
        refused_in: tuple[str, ...] = ()
        proc_coverage = proc.coverage if proc is not None else ()
        patient_status = self.patient_status
        status: Status
        # Covered at once when nothing can say otherwise: no rejection, an active patient, and
        # no EB I at the most specific level with coverage rows.
        if (
            not rejections
            and patient_status == "active"
            and not (proc.refused if proc is not None and proc_coverage else st.refused)
        ):
            status = "covered"
        else:
            refused: list[str] = []
            status = _coverage_status(
                patient_status, rejections, proc_coverage, st.coverage, notes, self.network, refused
            )
            if refused and status == "covered":
                refused_in = tuple([n for n in refused if n == "in" or n == "out"])

        networks: dict[str, NetworkBenefits | None] = {}
        st_kinds = st.kinds
        plan_buckets = self.plan_buckets
        for name in _NETWORKS:
            specific = proc_kinds.get(name) if proc_kinds else None
            if specific is not None:
                networks[name] = self._merge(name, specific, st, notes)
                continue
            if name in st_kinds:
                bucket, bucket_notes = self._over_plan(st, name)
            else:
                bucket, bucket_notes = plan_buckets[name]
            if bucket_notes:
                notes.extend(bucket_notes)
            networks[name] = bucket
        return _Answer(
            match,
            status,
            tuple(notes) if notes else _NO_NOTES,
            networks,
            rejections,
            refused_in,
        )

    def _over_plan(self, st: _Level, network: str) -> _Bucket:
        """A network's bucket where no procedure-level row speaks but the service-type level
        does: its kinds, the plan level's for the others; built once per level and network."""
        buckets = st._buckets
        if buckets is None:
            buckets = st._buckets = {}
        done = buckets.get(network)
        if done is None:
            notes: list[str] = []
            bucket = self._merge(network, None, st, notes)
            done = buckets[network] = (bucket, tuple(notes) if notes else _NO_NOTES)
        return done

    def _merge(
        self,
        network: str,
        proc_kinds: dict[str, list[Benefit]] | None,
        st: _Level,
        notes: list[str],
    ) -> NetworkBenefits | None:
        """One network's bucket: per kind the procedure level's value, else the service-type
        level's, else the plan level's. Notes come plan level first, then procedure level, then
        service-type level, each in the order its kinds first appear."""
        st_kinds = st.kinds.get(network)
        plan_slots = self.plan_slots.get(network)
        slots = list(_EMPTY_SLOTS) if plan_slots is None else plan_slots.copy()
        plan_notes = self.plan_notes.get(network)
        if plan_notes is not None:
            for kind, kind_notes in plan_notes:
                if (proc_kinds is None or kind not in proc_kinds) and (
                    st_kinds is None or kind not in st_kinds
                ):
                    notes.extend(kind_notes)
        slot_of = _SLOT_OF_KIND
        if proc_kinds is not None:
            where = _NETWORK_LABEL[network]
            builders = _BUILDERS
            for kind, rows in proc_kinds.items():
                value = builders[kind](rows, "procedure", where, notes)
                index = slot_of[kind]
                if index == 2 or index == 4:
                    slots[index], slots[index + 1] = value
                else:
                    slots[index] = value
        if st_kinds is not None:
            for kind in st_kinds:
                if proc_kinds is None or kind not in proc_kinds:
                    value, built_notes = st.built(network, kind)
                    index = slot_of[kind]
                    if index == 2 or index == 4:
                        slots[index], slots[index + 1] = value
                    else:
                        slots[index] = value
                    if built_notes:
                        notes.extend(built_notes)
        return _bucket(slots)


def _coverage_status(
    patient_status: str,
    rejections: Sequence[Aaa],
    proc_coverage: Sequence[tuple[str, str]],
    st_coverage: Sequence[tuple[str, str]],
    notes: list[str],
    provider_network: str = "unknown",
    refused_networks: list[str] | None = None,
) -> Status:
    if rejections or patient_status == "rejected":
        return "rejected"
    if patient_status == "inactive":
        return "inactive"
    # Limitation: an EB I at plan level (service type 30) does not make a procedure not_covered.
    levels: tuple[tuple[str, Sequence[tuple[str, str]]], ...] = (
        ("procedure", proc_coverage),
        ("service type", st_coverage),
    )
    for level, rows in levels:
        if not rows:
            continue
        refused = [network for kind, network in rows if kind == "not_covered"]
        # Refused only in named networks (an HMO's EB I with EB12 N) while the provider is in
        # another one: covered there, with a note. Otherwise every coverage row refusing it is
        # not covered, and so is a refusal for the provider's own network (or any network, W)
        # when no active row of this level names that network.
        if (
            refused
            and len(refused) == len(rows)
            and not _other_network_only(refused, provider_network)
        ) or _refused_for_provider(rows, provider_network):
            return "not_covered"
        for network in refused:
            notes.append(f"not covered {_NETWORK_LABEL[network]} (per the {level} row)")
        if refused_networks is not None:
            refused_networks.extend(refused)
        break
    if patient_status == "active":
        return "covered"
    notes.append("the payer's coverage status for this patient is unclear")
    return "unknown"


def _refused_for_provider(rows: Sequence[tuple[str, str]], provider_network: str) -> bool:
    """True when the provider's network is known, a row refuses the service there (its own
    network or W) and no active row names that network (or W)."""
    # Limitation: an active row and a refusal for the same network (a payer contradicting
    # itself) leave the service covered, with the note.
    if provider_network != "in" and provider_network != "out":
        return False
    mine = (provider_network, "both")
    refused = any(kind == "not_covered" and network in mine for kind, network in rows)
    return refused and not any(kind == "active" and network in mine for kind, network in rows)


def _other_network_only(refused: list[str], provider_network: str) -> bool:
    """True when every refusal names one network (in or out) and the provider's is not it:
    another known one, or unknown (the estimate then names the network as missing)."""
    named = set(refused)
    if len(named) != 1 or not named <= {"in", "out"}:
        return False
    return provider_network not in named


def _places(benefit: Benefit) -> Sequence[str]:
    if not benefit.places_of_service:
        return ()
    return tuple(p.code for p in benefit.places_of_service if p.code)


_NETWORK_LABEL = {
    "in": "in network",
    "out": "out of network",
    "both": "in any network",
    "unspecified": "with no network stated",
}


# Limitation: when a payer sends two different values for one slot (say two calendar-year
# totals told apart only by a MSG), the first is shown and the others are only named in a note.
def _disagreement(values: list[Decimal], label: str, what: str, notes: list[str]) -> None:
    """Note a slot the payer sent several different values for (the first is used)."""
    if len(set(values)) > 1:
        shown = ", ".join(format_amount(v) or "" for v in values)
        notes.append(f"{label} {what}: the payer sent several values ({shown}); the first is shown")


# EB06 periods a total may come from, most wanted first.
_TOTAL_RANK: dict[str | None, int] = {period: rank for rank, period in enumerate(_TOTAL_PERIODS)}


def _accumulator(
    by_period: dict[str | None, list[Decimal]],
    source: Source,
    who: str,
    what: str,
    notes: list[str],
) -> Accumulator | None:
    """Total, remaining and met for one coverage level, each from its own row (its amounts by
    EB06 period, the first sent for the first period the payer used); sentinels dropped.
    `who` and `what` make the label of its notes ("individual", "deductible in network")."""
    total_values: list[Decimal] | None = None
    total_period: str | None = None
    lifetime_left: list[Decimal] | None
    year_left: list[Decimal] | None
    met_values: list[Decimal] | None
    rank = len(_TOTAL_PERIODS)
    lifetime_left = year_left = met_values = None
    unused: list[str | None] | None = None
    for period, values in by_period.items():
        period_rank = _TOTAL_RANK.get(period)
        if period_rank is not None:
            if period_rank < rank:
                rank, total_values, total_period = period_rank, values, period
        elif period == "29":
            year_left = values
        elif period == "33":
            lifetime_left = values
        elif period == _MET_PERIOD:
            met_values = values
        elif unused is None:
            unused = [period]
        else:
            unused.append(period)
    # The remaining amount of the total's kind of period first: lifetime for a lifetime total.
    remaining_period: str | None
    remaining_values, remaining_period = (
        (lifetime_left, "33")
        if lifetime_left and (total_period == "32" or not year_left)
        else (year_left, "29")
    )
    if not remaining_values:
        remaining_period = None

    total = remaining = met = None
    if total_values:
        total = total_values[0]
        if len(total_values) > 1:
            _disagreement(total_values, f"{who} {what}", "total", notes)
    if remaining_values:
        remaining = remaining_values[0]
        if len(remaining_values) > 1:
            _disagreement(remaining_values, f"{who} {what}", "remaining", notes)
    if met_values:
        met = met_values[0]
        if len(met_values) > 1:
            _disagreement(met_values, f"{who} {what}", "met", notes)

    floor, negative_floor = _SENTINEL_FLOOR, _NEGATIVE_FLOOR
    total_is_sentinel = (
        total is not None and (total >= floor or total <= negative_floor) and is_sentinel(total)
    )
    if total_is_sentinel:
        notes.append(
            f"{who} {what} {format_amount(total)} is a payer placeholder meaning "
            "not applicable and was dropped"
        )
        total, total_period = None, None
    if remaining is not None and (
        total_is_sentinel
        or ((remaining >= floor or remaining <= negative_floor) and is_sentinel(remaining))
    ):
        why = (
            "was computed against a placeholder total"
            if total_is_sentinel
            else "is a payer placeholder meaning not applicable"
        )
        notes.append(f"{who} {what} remaining {format_amount(remaining)} {why} and was dropped")
        remaining, remaining_period = None, None
    if met is not None and (met >= floor or met <= negative_floor) and is_sentinel(met):
        notes.append(
            f"{who} {what} met {format_amount(met)} is a payer placeholder and was dropped"
        )
        met = None

    if unused is not None:
        for period in unused:
            notes.append(
                f"{who} {what} with time period {period} is not a total, remaining or met "
                "amount and was not used"
            )
    if total is None and remaining is None and met is None:
        return None
    return _new(Accumulator, (total, remaining, met, source, total_period, remaining_period))


def _copays(
    rows: list[Benefit], source: Source, where: str, notes: list[str]
) -> tuple[CopayEntry, ...]:
    copays = []
    for row in rows:
        amount = row.amount
        if amount is not None and amount >= _SENTINEL_FLOOR and is_sentinel(amount):
            notes.append(
                f"copay {format_amount(amount)} {where} is a payer placeholder "
                "meaning not applicable and was dropped"
            )
            continue
        copays.append(
            _new(
                CopayEntry,
                (
                    amount,
                    row.time_period,
                    row.coverage_level,
                    source,
                    row.messages,
                    _places(row) if row.places_of_service else (),
                    row.delivery,
                ),
            )
        )
    return tuple(copays)


def _coinsurances(
    rows: list[Benefit], source: Source, where: str, notes: list[str]
) -> tuple[CoinsuranceEntry, ...]:
    return tuple(
        [
            _new(
                CoinsuranceEntry,
                (
                    row.percent,
                    row.time_period,
                    row.coverage_level,
                    source,
                    row.messages,
                    _places(row) if row.places_of_service else (),
                    row.delivery,
                ),
            )
            for row in rows
        ]
    )


def _limits(
    rows: list[Benefit], source: Source, where: str, notes: list[str]
) -> tuple[LimitEntry, ...]:
    limits = []
    for row in rows:
        amount = row.amount
        if amount is not None and is_sentinel(amount):
            notes.append(
                f"limit {format_amount(amount)} {where} is a payer placeholder "
                "meaning not applicable and was dropped"
            )
            amount = None
        limits.append(
            _new(
                LimitEntry,
                (
                    amount,
                    row.percent,
                    row.quantity_qualifier,
                    row.quantity,
                    row.time_period,
                    row.coverage_level,
                    source,
                    row.authorization_required,
                    row.messages,
                    _places(row),
                    row.delivery,
                ),
            )
        )
    return tuple(limits)


def _accumulators(
    name: str,
) -> Callable[[list[Benefit], Source, str, list[str]], tuple[Accumulator | None, ...]]:
    def build(
        rows: list[Benefit], source: Source, where: str, notes: list[str]
    ) -> tuple[Accumulator | None, ...]:
        # Each coverage level's amounts by EB06 period, in the order the rows came.
        individual: dict[str | None, list[Decimal]] = {}
        family: dict[str | None, list[Decimal]] = {}
        for row in rows:
            amount = row.amount
            if amount is None:
                continue
            by_period = individual if row.coverage_level in _INDIVIDUAL_LEVELS else family
            sent = by_period.get(row.time_period)
            if sent is None:
                by_period[row.time_period] = [amount]
            else:
                sent.append(amount)
        what = f"{name} {where}"
        return (
            _accumulator(individual, source, "individual", what, notes) if individual else None,
            _accumulator(family, source, "family", what, notes) if family else None,
        )

    return build


_YNU = frozenset({"Y", "N", "U"})


def _authorization(
    rows: list[Benefit], source: Source, where: str, notes: list[str]
) -> Authorization:
    if len(rows) == 1:
        row = rows[0]
        required = row.authorization_required
        if required == "Y" or required == "U" or required == "N":
            return _new(Authorization, (required, source, row.messages))
    sent = {r.authorization_required for r in rows}
    if sent <= _YNU:
        required = "Y" if "Y" in sent else "U" if "U" in sent else "N"
        messages = tuple(
            m for r in rows if r.authorization_required == required for m in r.messages
        )
        return _new(Authorization, (required, source, messages))
    # Any case; a value other than Y, N or U says the payer cannot tell (never "not required").
    flags = [(r.authorization_required or "").upper() for r in rows]
    found = set(flags)
    required = "Y" if "Y" in found else "N" if found == {"N"} else "U"
    messages = tuple(
        m
        for r, flag in zip(rows, flags, strict=True)
        if flag == required or (required == "U" and flag != "N")
        for m in r.messages
    )
    return _new(Authorization, (required, source, messages))


def _messages(rows: list[Benefit], source: Source, where: str, notes: list[str]) -> tuple[str, ...]:
    if len(rows) == 1:
        sent = rows[0].messages
        if not sent:
            return ()
        return tuple(dict.fromkeys(sent)) if len(sent) > 1 else tuple(sent)
    # Each message once, in the order first sent (a dict: a payer may send thousands).
    messages: dict[str, None] = {}
    for row in rows:
        sent = row.messages
        if sent:
            messages.update(dict.fromkeys(sent))
    return tuple(messages)


_BUILDERS: dict[str, Callable[[list[Benefit], Source, str, list[str]], Any]] = {
    "copay": _copays,
    "coinsurance": _coinsurances,
    "limit": _limits,
    "deductible": _accumulators("deductible"),
    "out_of_pocket": _accumulators("out-of-pocket"),
    "authorization": _authorization,
    "active": _messages,
    "description": _messages,
    "not_covered": _messages,
}


@lru_cache(maxsize=4096)
def _default_crosswalk(code: str, qualifier: str, modifiers: tuple[str, ...]) -> tuple[str, ...]:
    """The shared crosswalk, remembered per code: a schedule asks for the same codes again."""
    from cptverify.benefits.crosswalk import service_types_for

    return tuple(service_types_for(code, qualifier, modifiers))


def _plan(
    code: str,
    qualifier: str,
    modifiers: tuple[str, ...],
    asked: tuple[str, ...] | None,
    crosswalk: CrosswalkFn,
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """A request's code in upper case, its service types (asked, else from the crosswalk) and
    the ones whose rows are looked up (service type 30 is the plan itself: plan-level rows)."""
    service_types = asked if asked is not None else tuple(crosswalk(code, qualifier, modifiers))
    wanted = (
        service_types
        if "30" not in service_types
        else tuple([st for st in service_types if st != "30"])
    )
    return code.upper(), service_types, wanted


_PLAIN = (tuple, type(None))


@lru_cache(maxsize=4096)
def _default_plan(
    code: str, qualifier: str, modifiers: tuple[str, ...], asked: tuple[str, ...] | None
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """`_plan` with the shared crosswalk, remembered per code: a schedule asks the same codes."""
    return _plan(code, qualifier, modifiers, asked, _default_crosswalk)


def resolve_procedures(
    patient: Patient,
    requests: Sequence[ProcedureRequest],
    *,
    network: Network = "unknown",
    payer_calls: int = 1,
    rejections_from_transaction: list[Aaa] | None = None,
    crosswalk: CrosswalkFn | None = None,
) -> list[ProcedureResult]:
    """One result per requested procedure for a patient read from a 271.

    `network` is the provider's network for the estimate; `payer_calls` how many 270/271
    exchanges the inquiry took; `rejections_from_transaction` the AAA of loops 2000A, 2100A and
    2100B (the transaction's `errors`), which apply to every patient in it. `crosswalk` maps a
    code to service types (default: `cptverify.benefits.crosswalk.service_types_for`).

    Results of one call share immutable parts; treat them as read-only. Raises ValueError
    when `network` is not `in`, `out` or `unknown`.
    """
    # Limitation: resolution still costs about as much as reading the 271 (bench `resolve`
    # about +100%, goal +50%): plan-level values (~1/3), per-procedure buckets and results
    # each take a share; no single step dominates.
    if network not in PROVIDER_NETWORKS:
        raise ValueError("network must be 'in', 'out' or 'unknown'")
    planned = []
    codes = set()
    all_wanted: set[str] = set()
    for request in requests:
        modifiers, asked = request.modifiers, request.service_types
        if crosswalk is None and type(modifiers) is tuple and type(asked) in _PLAIN:
            code, service_types, wanted = _default_plan(
                request.code, request.qualifier, modifiers, asked
            )
        else:
            for name, value in (("modifiers", modifiers), ("service_types", asked)):
                if isinstance(value, str):
                    raise TypeError(f"{name} must be a sequence of codes, not a string")
            code, service_types, wanted = _plan(
                request.code,
                request.qualifier,
                tuple(modifiers),
                None if asked is None else tuple(asked),
                crosswalk or _default_crosswalk,
            )
        planned.append((request, code, service_types, wanted))
        codes.add(code)
        all_wanted.update(wanted)
    index = _PatientIndex(patient, rejections_from_transaction or (), codes, all_wanted, network)
    results = []
    by_code = index.by_code
    st_levels = index.service_type_levels
    for request, code, service_types, wanted in planned:
        st = st_levels.get(wanted) or index.service_type_level(wanted)
        proc = index.procedure_level(code, request) if code in by_code else None
        if proc is not None:
            answer = index.resolve(proc, st)
        elif st.answer is not None:
            answer = st.answer
        else:
            answer = st.answer = index.resolve(None, st)
        networks = answer.networks
        estimate = None
        if request.allowed_amount is not None:
            estimate = estimate_share(
                answer.status, networks, request.allowed_amount, network, answer.refused
            )
        results.append(
            ProcedureResult(
                request.code,
                request.qualifier,
                list(request.modifiers),
                answer.status,
                answer.match,
                list(service_types),
                payer_calls,
                # Each result gets its own dict; the buckets in it are shared.
                networks.copy(),
                answer.rejections,
                estimate,
                answer.notes if wanted else (_NO_SERVICE_TYPE_NOTE, *answer.notes),
            )
        )
    return results


__all__ = ["ProcedureRequest", "is_sentinel", "resolve_procedures"]
