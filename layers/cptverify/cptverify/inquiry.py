"""The benefit inquiry: who is the patient, who asks, which payer, which procedures, which day.

The same JSON is the API's request body, a schedule row after grouping, and the input of
`cptverify build-270`. Validation names the field and the rule that failed and never repeats
the value: the values are patient data. `Inquiry.model_validate(data, context={"today": d})`
fixes the day the date-of-service window is measured from; without it, `today()` is used.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cptverify.x12.names import clean_text, normalize_last_name

Network = Literal["in", "out", "unknown"]
Gender = Literal["M", "F", "U"]
Qualifier = Literal["HC", "AD"]
RelationshipCode = Literal["01", "19", "34"]

# ASCII digits only: `\d` and str.isdigit() also take other scripts' digits; X12 cannot carry them.
CPT_RE = re.compile(r"^(?:[0-9]{5}|[0-9]{4}[FTU])$")
HCPCS_RE = re.compile(r"^[A-Z][0-9]{4}$")
CDT_RE = re.compile(r"^D[0-9]{4}$")
MODIFIER_RE = re.compile(r"^[A-Z0-9]{2}$")
ISO_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
AMOUNT_RE = re.compile(r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
# Letters of any script, spaces and the punctuation real names carry; no digits, no delimiters.
PERSON_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '\-.,]*[^\W\d_]+)*[ .]*$")
ORGANIZATION_NAME_RE = re.compile(r"^[\w &'\-.,/#()]+$")
IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9\-]+$")
CLAIM_ID_RE = re.compile(r"^[A-Za-z0-9._\-]+$")

# Service type codes (X12 element 1365) valid in a 005010X279A1 270 EQ01.
_LETTER_SERVICE_TYPES = (
    "A0 A1 A2 A3 A4 A5 A6 A7 A8 A9 AA AB AC AD AE AF AG AH AI AJ AK AL AM AN AO AQ AR "
    "B1 B2 B3 BA BB BC BD BE BF BG BH BI BJ BK BL BM BN BP BQ BR BS BT BU BV BW BX BY BZ "
    "C1 CA CB CC CD CE CF CG CH CI CJ CK CL CM CN CO CP CQ DG DM DS GF GN GY IC MH NI ON "
    "PT PU RN RT TC TN UC"
)
SERVICE_TYPE_CODES = frozenset(
    [str(n) for n in range(1, 100) if n not in (29, 31)] + _LETTER_SERVICE_TYPES.split(" ")
)
MAX_PROCEDURES = 99
# X12 validators refuse dates before 1800; no patient alive was born before 1900.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
MAX_MODIFIERS = 4


def today() -> date:
    """The current day (UTC) used for the date-of-service window when no context gives one."""
    # Limitation: the CORE window uses the UTC day, not the practice's time zone, so near
    # midnight a date at the window's edge may be judged one day early or late.
    return datetime.now(UTC).date()


clock: Callable[[], date] = today


def core_window(reference: date) -> tuple[date, date]:
    """CAQH CORE's inquiry date window: 12 months back through the end of the current month."""
    year_back = reference.year - 1
    day_back = min(reference.day, calendar.monthrange(year_back, reference.month)[1])
    start = date(year_back, reference.month, day_back)
    end = date(reference.year, reference.month, calendar.monthrange(*_ym(reference))[1])
    return start, end


def _ym(day: date) -> tuple[int, int]:
    return day.year, day.month


def _rule(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _strict_date(value: Any) -> Any:
    if isinstance(value, datetime):
        raise _rule("date_format", "must be a calendar date written YYYY-MM-DD")
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not ISO_DATE_RE.match(value):
        raise _rule("date_format", "must be a calendar date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _rule("date_invalid", "must be a real calendar date (YYYY-MM-DD)") from None


def _amount(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _rule("amount_format", "must be a decimal amount such as 95.00")
    text = str(value).strip() if not isinstance(value, Decimal) else format(value, "f")
    # Plain decimal notation only: Decimal() would also take `1_000`, `1E+2` and other digits.
    if not AMOUNT_RE.match(text):
        raise _rule("amount_format", "must be a decimal amount such as 95.00")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _rule("amount_format", "must be a decimal amount such as 95.00") from None
    if amount.is_zero():
        amount = Decimal(0)
    if amount < 0:
        raise _rule("amount_negative", "must not be negative")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise _rule("amount_precision", "must have at most two decimal places")
    if amount >= Decimal("10000000000"):
        raise _rule("amount_too_large", "must be below 10,000,000,000.00")
    return amount.quantize(Decimal("0.01"))


def _upper(value: Any) -> Any:
    # Only ASCII is upper-cased: "\u00df".upper() is "SS", which would pass a code check.
    return value.strip().upper() if isinstance(value, str) and value.isascii() else value


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _nfc(value: Any) -> Any:
    """Composed form, so an accent typed as a combining mark (NFD input) counts as a letter."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _person_name(value: Any) -> Any:
    value = _nfc(_stripped(value))
    if isinstance(value, str) and value and not PERSON_NAME_RE.match(value):
        raise _rule(
            "name_characters",
            "must contain letters, spaces and the punctuation ' - . , only",
        )
    return value


def _last_name(value: Any) -> Any:
    value = _person_name(value)
    # The 270 carries ASCII: a name with no letter that has a Latin base is refused here, by
    # field, rather than accepted and then failing when the 270 is built.
    if isinstance(value, str) and value and not normalize_last_name(value):
        raise _rule("name_not_sendable", "must contain at least one letter of the Latin alphabet")
    return value


def _organization_name(value: Any) -> Any:
    value = _nfc(_stripped(value))
    if isinstance(value, str) and value and not ORGANIZATION_NAME_RE.match(value):
        raise _rule(
            "name_characters",
            "must contain letters, digits, spaces and the punctuation & ' - . , / # ( ) only",
        )
    if isinstance(value, str) and value and not clean_text(value):
        raise _rule(
            "name_not_sendable", "must contain at least one Latin letter or digit (X12 is ASCII)"
        )
    return value


def _identifier(value: Any) -> Any:
    value = _upper(value)
    if isinstance(value, str) and value and not IDENTIFIER_RE.match(value):
        raise _rule("identifier_characters", "must contain letters, digits and hyphens only")
    return value


def npi_is_valid(npi: str) -> bool:
    """True when `npi` is 10 digits whose last is the Luhn check digit over `80840` + the rest."""
    if len(npi) != 10 or not npi.isascii() or not npi.isdigit():
        return False
    total = 24  # the doubled-and-summed digits of the 80840 prefix
    for index, char in enumerate(reversed(npi[:9])):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10 == int(npi[9])


def _npi(value: Any) -> Any:
    value = _stripped(value)
    if not isinstance(value, str):
        raise _rule("npi_format", "must be a 10-digit NPI written as a string")
    if len(value) != 10 or not value.isascii() or not value.isdigit():
        raise _rule("npi_format", "must be exactly 10 digits")
    if not npi_is_valid(value):
        raise _rule("npi_check_digit", "check digit does not match (Luhn with the 80840 prefix)")
    return value


PersonName = Annotated[str, BeforeValidator(_person_name)]
LastName = Annotated[str, BeforeValidator(_last_name)]
# Length limits sit on `str`, ahead of the cleaning validator: pydantic then checks them on the
# cleaned text and words them in characters ("String should have at least 2 characters"); put
# after the validator they become a generic check that speaks of "items".
FirstName35 = Annotated[str, Field(min_length=1, max_length=35), BeforeValidator(_person_name)]
PersonName60 = Annotated[str, Field(min_length=1, max_length=60), BeforeValidator(_person_name)]
LastName60 = Annotated[str, Field(min_length=1, max_length=60), BeforeValidator(_last_name)]
Identifier80 = Annotated[str, Field(min_length=2, max_length=80), BeforeValidator(_identifier)]
OrganizationName60 = Annotated[
    str, Field(min_length=1, max_length=60), BeforeValidator(_organization_name)
]
IsoDate = Annotated[date, BeforeValidator(_strict_date)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,
        frozen=True,
        str_strip_whitespace=True,
    )


class Payer(_Model):
    """The payer asked: its id at the clearinghouse or connection (NM109 with PI) and name."""

    id: Identifier80
    name: OrganizationName60


class Provider(_Model):
    """The practice or clinician asking: an organization name, or a person's first and last."""

    npi: Annotated[str, BeforeValidator(_npi)]
    organization_name: OrganizationName60 | None = None
    first_name: FirstName35 | None = None
    last_name: LastName60 | None = None
    network: Network = "unknown"

    @model_validator(mode="wrap")
    @classmethod
    def _one_name_form(cls, data: Any, handler: ModelWrapValidatorHandler[Provider]) -> Provider:
        try:
            provider = handler(data)
        except ValidationError as exc:
            # Field errors stop pydantic before a model check; the name form is still reported.
            form = _provider_name_form(data) if isinstance(data, dict) else None
            if form is None:
                raise
            lines: list[Any] = [
                {
                    "type": PydanticCustomError(e["type"], e["msg"]),
                    "loc": e["loc"],
                    "input": e.get("input"),
                }
                for e in exc.errors(include_url=False, include_context=False)
            ]
            lines.append({"type": form, "loc": (), "input": data})
            raise ValidationError.from_exception_data(exc.title, lines, hide_input=True) from None
        form = _provider_name_form(
            {
                "organization_name": provider.organization_name,
                "first_name": provider.first_name,
                "last_name": provider.last_name,
            }
        )
        if form is not None:
            raise form
        return provider

    @property
    def is_person(self) -> bool:
        return self.organization_name is None


def _provider_name_form(data: dict[str, Any]) -> PydanticCustomError | None:
    """The provider's name-form problem (both forms, or neither), from its fields as given."""
    organization = data.get("organization_name") is not None
    first, last = data.get("first_name") is not None, data.get("last_name") is not None
    if organization and (first or last):
        return _rule(
            "provider_name_form",
            "give organization_name or first_name with last_name, not both",
        )
    if not organization and not (first and last):
        return _rule(
            "provider_name_form",
            "organization_name, or first_name and last_name, is required",
        )
    return None


class Subscriber(_Model):
    """The member who holds the coverage. The birth date is optional (DMG is then omitted)."""

    member_id: Identifier80
    first_name: FirstName35
    last_name: LastName60
    birth_date: IsoDate | None = None
    gender: Annotated[Gender, BeforeValidator(_upper)] | None = None

    @field_validator("birth_date")
    @classmethod
    def _birth_not_future(cls, value: date | None, info: ValidationInfo) -> date | None:
        return None if value is None else _birth_date_in_range(value, info)


class Dependent(_Model):
    """A patient covered through the subscriber (spouse 01, child 19, other adult 34)."""

    first_name: FirstName35
    last_name: LastName60
    birth_date: IsoDate
    gender: Annotated[Gender, BeforeValidator(_upper)] | None = None
    relationship_code: RelationshipCode

    @field_validator("birth_date")
    @classmethod
    def _birth_not_future(cls, value: date, info: ValidationInfo) -> date:
        return _birth_date_in_range(value, info)


class ProcedureRequest(_Model):
    """One planned procedure: a CPT/HCPCS code (qualifier HC) or a CDT code (qualifier AD).

    Without a qualifier, a CDT-shaped code (D and 4 digits) is sent as AD and any other as HC.
    """

    qualifier: Annotated[Qualifier, BeforeValidator(_upper)] | None = None
    code: Annotated[str, BeforeValidator(_upper)]
    modifiers: list[Annotated[str, BeforeValidator(_upper)]] = Field(
        default_factory=list, max_length=MAX_MODIFIERS
    )
    allowed_amount: Annotated[Decimal | None, BeforeValidator(_amount)] = None

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str, info: ValidationInfo) -> str:
        qualifier = info.data.get("qualifier")
        medical = bool(CPT_RE.match(value) or HCPCS_RE.match(value))
        dental = bool(CDT_RE.match(value))
        if qualifier == "AD" and not dental:
            raise _rule("procedure_code_shape", "must be a CDT code (D and 4 digits) for AD")
        if qualifier != "AD" and not medical:
            raise _rule(
                "procedure_code_shape",
                "must be a CPT code (5 digits, or 4 digits and F, T or U), a HCPCS code "
                "(a letter and 4 digits) or a CDT code (D and 4 digits)",
            )
        return value

    @field_validator("modifiers")
    @classmethod
    def _modifier_shape(cls, value: list[str]) -> list[str]:
        for modifier in value:
            if not MODIFIER_RE.match(modifier):
                raise _rule("modifier_format", "each modifier must be 2 letters or digits")
        return value

    @model_validator(mode="after")
    def _default_qualifier(self) -> ProcedureRequest:
        if self.qualifier is None:
            object.__setattr__(self, "qualifier", "AD" if CDT_RE.match(self.code) else "HC")
        return self

    @property
    def code_qualifier(self) -> str:
        return self.qualifier or "HC"


class Inquiry(_Model):
    """A benefit inquiry for one patient on one date of service, for one or more procedures."""

    claim_id: Annotated[str, Field(min_length=1, max_length=50)]
    date_of_service: IsoDate
    payer: Payer
    provider: Provider
    subscriber: Subscriber
    dependent: Dependent | None = None
    procedures: list[ProcedureRequest] = Field(default_factory=list, max_length=MAX_PROCEDURES)
    service_types: list[Annotated[str, BeforeValidator(_upper)]] = Field(
        default_factory=list, max_length=MAX_PROCEDURES
    )

    @field_validator("claim_id")
    @classmethod
    def _claim_id_shape(cls, value: str) -> str:
        if not CLAIM_ID_RE.match(value):
            raise _rule("claim_id_characters", "must contain letters, digits and . _ - only")
        return value

    @field_validator("date_of_service")
    @classmethod
    def _in_core_window(cls, value: date, info: ValidationInfo) -> date:
        start, end = core_window(_reference_day(info))
        if value < start or value > end:
            raise _rule(
                "date_of_service_window",
                "must be within 12 months back through the end of the current month",
            )
        return value

    @field_validator("service_types")
    @classmethod
    def _known_service_types(cls, value: list[str]) -> list[str]:
        for code in value:
            if code not in SERVICE_TYPE_CODES:
                raise _rule(
                    "service_type_unknown",
                    "each service type must be an X12 005010 service type code",
                )
        if len(set(value)) != len(value):
            raise _rule("service_type_repeated", "service types must not repeat")
        return value

    @model_validator(mode="after")
    def _something_to_ask(self) -> Inquiry:
        if not self.procedures and not self.service_types:
            raise _rule("nothing_to_ask", "at least one procedure or service type is required")
        return self

    @property
    def patient_is_dependent(self) -> bool:
        return self.dependent is not None

    @property
    def network(self) -> Network:
        return self.provider.network


def _birth_date_in_range(value: date, info: ValidationInfo) -> date:
    if value > _reference_day(info):
        raise _rule("birth_date_future", "must not be in the future")
    if value < EARLIEST_BIRTH_DATE:
        raise _rule("birth_date_too_early", "must be on or after 1900-01-01")
    return value


def _reference_day(info: ValidationInfo) -> date:
    context = info.context if isinstance(info.context, dict) else {}
    day = context.get("today")
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    return clock()


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """The errors of a failed validation as `{"field": "a.b[0].c", "rule": ...}`, no values."""
    out: list[dict[str, str]] = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        out.append({"field": format_location(item["loc"]), "rule": item["msg"]})
    return out


def format_location(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a path: `("procedures", 1, "code")` -> `procedures[1].code`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


def inquiry_json_schema() -> dict[str, Any]:
    """The JSON schema of the inquiry body (for the OpenAPI document and the docs)."""
    return Inquiry.model_json_schema()
