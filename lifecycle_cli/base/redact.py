"""Personal data: which values look like it (kept out of messages), and reports without
names and emails (`--redact`, or `report: {redact: true}` in rules.yaml)."""

from __future__ import annotations

import re
import traceback
from typing import Any

#: Something@something: an email address, whole or cut.
EMAIL = re.compile(r"\S@\S")
#: A phone number as people write one: at least 6 digits with +, spaces, dashes, dots or brackets
#: (a portal's numeric stage id is digits alone, and stays readable).
PHONE = re.compile(r"^(?=(?:\D*\d){6})\+?[\d\s().\-/]*[\s+().\-/][\d\s().\-/]*$")
#: A date (2024-03-12, 12.03.2024, 3/15/2024 2:30 PM): shaped like a phone number, but no personal
#: data.
DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{2,4}(?:[ T][\d:.]+(?:\s*[AaPp][Mm])?Z?)?$")
#: A record id: letters, digits and a few separators, with at least one digit (HubSpot 51234567801,
#: Salesforce 003Dn00000AbCdE, Excel's 5.12346E+10); a name or an email address is not one.
RECORD_ID = re.compile(r"^[A-Za-z0-9._:+\-]*[0-9][A-Za-z0-9._:+\-]*$")

#: How the headers of columns holding people's names, emails, phone numbers or addresses end
#: (normalised: lower case, no spaces or punctuation): `First Name`, `Nachname`, `Contact owner`,
#: `E-Mail`, `Phone Number`, `Street Address`. A stage column value found in one is personal.
PERSONAL_HEADER_ENDS = (
    "name",
    "owner",
    "mail",
    "address",
    "adresse",
    "phone",
    "phonenumber",
    "telefon",
    "telefonnummer",
    "mobil",
    "mobile",
    "handy",
)


def looks_personal(value: str) -> bool:
    """True for a value shaped like an email address or a phone number."""
    value = value.strip()
    return bool(EMAIL.search(value) or (PHONE.match(value) and not DATE.match(value)))


def is_personal_header(normalised: str) -> bool:
    """Whether a header (as `sources.normalise_header` gives it) names a column of names, emails or
    phones."""
    return normalised.endswith(PERSONAL_HEADER_ENDS)


def scrub_polars_text(text: str) -> str:
    """The first line of a Polars error message with every value it quotes replaced by "a value"
    (`conversion ... failed ... for 1 out of 1 values: ["ann@example.com"]`)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    first = re.sub(r'`[^`]*`|"(?:[^"\\]|\\.)*"', "a value", first)
    return re.sub(r"\[[^\]]*\]", "[...]", first)


def debug_trace(exc: BaseException) -> str:
    """The trace --debug prints, as Python prints it, except that the message of a Polars exception
    in it (which can quote cell values) is cut to its first line with the quoted values removed."""
    chain: list[BaseException] = []
    while exc is not None and all(exc is not seen for seen in chain):
        chain.append(exc)
        exc = (
            exc.__cause__
            if exc.__cause__ is not None
            else None
            if exc.__suppress_context__
            else exc.__context__
        )
    parts = []
    for later, current in zip([None, *chain[::-1]], chain[::-1], strict=False):
        if later is not None:
            parts.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
                if current.__cause__ is later
                else "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(current.__traceback__))
        kind = type(current)
        message = str(current)
        if kind.__module__.split(".")[0] == "polars":
            message = scrub_polars_text(message)
        name = (
            kind.__qualname__
            if kind.__module__ in ("builtins", "__main__")
            else f"{kind.__module__}.{kind.__qualname__}"
        )
        parts.append(f"{name}: {message}\n" if message else f"{name}\n")
    return "".join(parts)


def redacted(result: dict[str, Any]) -> dict[str, Any]:
    """A report's dict without names and emails: the examples keep their row, record id (unless
    the key column holds something that is not an id, say `diff --key Email`), stages and rule."""
    samples = []
    for sample in result.get("samples", []):
        record_id = sample.get("record_id")
        keep = record_id is not None and bool(RECORD_ID.match(str(record_id)))
        samples.append(
            {**sample, "record_id": record_id if keep else None, "name": None, "email": None}
        )
    return {**result, "samples": samples, "redacted": True}
