"""Personal data: which values look like it (kept out of messages), and reports without
names and emails (`--redact`, or `report: {redact: true}` in rules.yaml)."""

from __future__ import annotations

import re
from typing import Any

#: Something@something: an email address, whole or cut.
EMAIL = re.compile(r"\S@\S")
#: A phone number as people write one: at least 6 digits with +, spaces, dashes, dots or brackets
#: (a portal's numeric stage id is digits alone, and stays readable).
PHONE = re.compile(r"^(?=(?:\D*\d){6})\+?[\d\s().\-/]*[\s+().\-/][\d\s().\-/]*$")
#: A record id: letters, digits and a few separators, with at least one digit (HubSpot 51234567801,
#: Salesforce 003Dn00000AbCdE, Excel's 5.12346E+10); a name or an email address is not one.
RECORD_ID = re.compile(r"^[A-Za-z0-9._:+\-]*[0-9][A-Za-z0-9._:+\-]*$")

#: Header words of columns that hold people's names, emails or phone numbers (normalised: lower
#: case, no spaces or punctuation): a stage column value found in one of them is personal.
PERSONAL_HEADER_WORDS = ("name", "owner", "mail", "phone", "telefon", "mobile", "handy")


def looks_personal(value: str) -> bool:
    """True for a value shaped like an email address or a phone number."""
    value = value.strip()
    return bool(EMAIL.search(value) or PHONE.match(value))


def is_personal_header(normalised: str) -> bool:
    """Whether a header (as `sources.normalise_header` gives it) names a column of names, emails or phones."""
    return any(word in normalised for word in PERSONAL_HEADER_WORDS)


def scrub_polars_text(text: str) -> str:
    """The first line of a Polars error message with every value it quotes replaced by "a value"
    (`conversion ... failed ... for 1 out of 1 values: ["ann@example.com"]`)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    first = re.sub(r'`[^`]*`|"(?:[^"\\]|\\.)*"', "a value", first)
    return re.sub(r"\[[^\]]*\]", "[...]", first)


def redacted(result: dict[str, Any]) -> dict[str, Any]:
    """A report's dict without names and emails: the examples keep their row, record id (unless
    the key column holds something that is not an id, say `diff --key Email`), stages and rule."""
    samples = []
    for sample in result.get("samples", []):
        record_id = sample.get("record_id")
        keep = record_id is not None and bool(RECORD_ID.match(str(record_id)))
        samples.append({**sample, "record_id": record_id if keep else None, "name": None, "email": None})
    return {**result, "samples": samples, "redacted": True}
