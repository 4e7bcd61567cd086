"""What an AAA (request validation) segment means, in our own words.

AAA03 says why the payer could not answer, AAA04 what the submitter may do next. Unknown or
non-standard codes (a state Medicaid sending `RC`, for instance) are kept raw with a generic
description; nothing here raises.
"""

from __future__ import annotations

from cptverify.x12.model import Aaa

# AAA03 reject reasons: our own short explanation, and whether sending the same request again
# later can help (True), cannot help without corrected data (False), or depends (None).
REASONS: dict[str, tuple[str, bool | None]] = {
    "04": ("the submitter is not authorised for this inquiry", False),
    "15": ("data the payer needs is missing from the request", False),
    "33": ("the input did not meet the payer's format or data rules", False),
    "35": ("the provider is out of the patient's network", False),
    "41": ("the payer restricts access to this information or needs an authorisation", False),
    "42": ("the payer cannot respond right now; try again later", True),
    "43": ("the provider identifier is invalid or missing", False),
    "44": ("the provider name is invalid or missing", False),
    "45": ("the provider specialty is invalid or missing", False),
    "46": ("the provider phone number is invalid or missing", False),
    "47": ("the provider state is invalid or missing", False),
    "48": ("the referring provider identifier is invalid or missing", False),
    "49": ("the provider is not the primary care provider", False),
    "50": ("the provider may not make eligibility inquiries with this payer", False),
    "51": ("the payer has no record of this provider", False),
    "52": ("the service dates fall outside the provider's enrolment with the plan", False),
    "53": ("the inquired benefit is inconsistent with the provider type", False),
    "54": ("the qualifier for the service date is not appropriate", False),
    "55": ("the date sent for the service is not valid for the benefit asked about", False),
    "56": ("the date of service is not valid or is missing", False),
    "57": ("the date of service is invalid, in the future or outside the allowed range", False),
    "58": ("the date of birth is invalid or missing", False),
    "60": ("the date of birth is after the date of service", False),
    "61": ("the date of death is before the date of service", False),
    "62": ("the date of service is too far in the future to answer", False),
    "63": ("the date of service is too far in the past to answer", False),
    "64": ("the patient's birth date or relationship is invalid or missing", False),
    "65": ("the patient's name is invalid or missing", False),
    "66": ("the patient's gender is invalid or missing", False),
    "67": ("the patient was not found", False),
    "68": ("the patient appears more than once in the payer's records", False),
    "69": ("the inquiry mixes data that do not belong together", False),
    "70": ("the inquired benefit does not fit the patient's gender", False),
    "71": ("the date of birth does not match the payer's records", False),
    "72": ("the member identifier is invalid or missing", False),
    "73": ("the subscriber name is invalid or missing", False),
    "74": ("the subscriber's gender is invalid or missing", False),
    "75": ("the subscriber or insured was not found", False),
    "76": ("the subscriber appears more than once in the payer's records", False),
    "77": ("the subscriber was found but the patient was not", False),
    "78": ("the subscriber is not covered on the requested date", False),
    "79": ("the identifier of the information source or receiver is invalid", False),
    "80": ("the payer did not receive a response from its own source; try again later", True),
    "97": ("the information source's usage of the inquired benefit is not appropriate", False),
    "AA": ("the authorisation number was not found", False),
    "AE": ("the requested service type is not supported", False),
    "AF": ("the diagnosis code is invalid or missing", False),
    "AG": ("the procedure code is invalid or missing", False),
    "AO": ("additional patient condition information is needed", False),
    "CI": ("the certification information does not match the patient", False),
    "E8": ("the payer requires a medical review", False),
    "IA": ("the patient identifier is invalid or missing", False),
    "MA": ("the payer needs more time for manual review", True),
    "T4": ("the payer name or identifier is missing", False),
}

# AAA04 follow-up actions and whether they allow sending again.
FOLLOW_UPS: dict[str, tuple[str, bool | None]] = {
    "C": ("correct the data and send again", False),
    "N": ("do not send again", False),
    "P": ("send the original request again", True),
    "R": ("sending again is allowed", True),
    "S": ("do not send again until the payer is contacted", False),
    "W": ("wait 30 days, then send again", True),
    "X": ("wait 10 days, then send again", True),
    "Y": ("do not send again; wait for the payer's answer", False),
}

UNKNOWN_REASON = "the payer rejected the request with a code outside the standard list"


def describe(code: str | None, follow_up: str | None) -> tuple[str, bool | None]:
    """A plain explanation of a reason and follow-up, and whether resubmitting can help."""
    reason = REASONS.get(code or "")
    text, retryable = reason if reason is not None else (UNKNOWN_REASON, None)
    action = FOLLOW_UPS.get(follow_up or "")
    if action is not None:
        text = f"{text}; {action[0]}"
        if retryable is None:
            retryable = action[1]
    elif follow_up:
        text = f"{text}; follow-up code not in the standard list"
    return text, retryable


def make_aaa(seg: list[str], loop: str, position: int | None) -> Aaa:
    """Build an `Aaa` from the elements of an AAA segment found in `loop`."""
    valid = seg[1].strip() or None if len(seg) > 1 else None
    code = seg[3].strip() or None if len(seg) > 3 else None
    follow_up = seg[4].strip() or None if len(seg) > 4 else None
    description, retryable = describe(code, follow_up)
    return Aaa(loop, valid, code, follow_up, description, retryable, position)
