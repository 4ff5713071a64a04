"""Fuzzing: whatever CSV or rules file comes in, lifecycle succeeds or exits 2 with a message; it
never crashes.

Runs the real Typer app in-process (CliRunner) so hundreds of examples stay fast; an
unexpected exception would surface as exit code 3 ("internal error").
"""

from __future__ import annotations

import csv
import io
import random

from conftest import CONTACT_HEADERS, EXAMPLES, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lifecycle_cli.cli import app

RUNNER = CliRunner()
DEFAULT_RULES = (ROOT / "rules.yaml").read_text(encoding="utf-8")
FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

cell = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab ,;\t\"'\n\rüé€–\\|")), max_size=8),
    st.sampled_from(["lead", "customer", "MQL", "true", "Yes", "2024-03-12", ""]),
)
header = st.one_of(st.sampled_from(CONTACT_HEADERS), cell)


def invoke(args: list[str], stdin: bytes | None = None):
    result = RUNNER.invoke(app, args, input=stdin, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1, 2), f"exit {result.exit_code}: {result.output[-2000:]}"
    if result.exit_code == 2:
        assert "Traceback" not in result.output
        assert "lifecycle: error:" in result.output or "Usage:" in result.output
    return result


@st.composite
def csv_bytes(draw) -> bytes:
    headers = draw(st.lists(header, min_size=0, max_size=8))
    if draw(st.integers(0, 4)) < 4:  # mostly a usable export, so the fuzzing reaches the rules too
        headers = [h for h in headers if h not in ("Record ID", "Lifecycle Stage")] + [
            "Record ID",
            "Lifecycle Stage",
        ]
    draw(st.randoms()).shuffle(headers)
    special = {
        "Record ID": st.from_regex(r"0?[1-9][0-9]{0,3}", fullmatch=True),
        "Lifecycle Stage": st.sampled_from(
            [
                "",
                "lead",
                "MQL",
                "Sales Qualified Lead",
                "customer",
                "Kunde",
                "other",
                "subscriber",
                "Evangelist",
                "VIP",
            ]
        ),
    }
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=delimiter,
        quoting=quoting,
        lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
    )
    writer.writerow(headers)
    for _ in range(draw(st.integers(0, 6))):
        width = len(headers) + draw(st.sampled_from([0, 0, 0, 0, 0, 0, -1, 1]))  # sometimes ragged
        writer.writerow(
            [
                draw(special.get(headers[i], cell) if i < len(headers) else cell)
                for i in range(max(width, 0))
            ]
        )
    text = out.getvalue()
    # Corruptions are the larger draws, so hypothesis's simplest examples stay well-formed.
    if draw(st.integers(0, 9)) == 9:
        text = text + '"unterminated'
    if draw(st.integers(0, 9)) == 9 and text:
        text = text[: draw(st.integers(0, len(text)))]
    if draw(st.integers(0, 19)) == 19:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + "\x00" + text[at:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 19)) == 19:
        data = draw(st.binary(max_size=200))
    return data


@FUZZ_SETTINGS
@given(data=csv_bytes(), as_deals=st.booleans())
def test_fuzzed_csv_never_crashes(tmp_path_factory, data: bytes, as_deals: bool) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "in.csv"
    path.write_bytes(data)
    if as_deals:
        invoke(
            [
                "classify",
                str(EXAMPLES / "contacts.csv"),
                "--deals",
                str(path),
                "-o",
                str(folder / "out.csv"),
                "-q",
            ]
        )
    else:
        invoke(["classify", str(path), "-q"])
        invoke(["diff", str(path), str(EXAMPLES / "contacts.csv"), "-q"])
    assert path.read_bytes() == data  # never modified


condition_token = st.sampled_from(
    [
        "won_deals",
        "open_deals",
        "lead_status",
        "email_domain",
        "contact_type",
        "unsubscribed_all",
        "@other_kinds",
        "@nope",
        "IN",
        "AND",
        "OR",
        "NOT",
        "IS",
        "NULL",
        "TRUE",
        "(",
        ")",
        ",",
        "=",
        ">",
        "<>",
        "'x'",
        "0",
        "1.5",
        "lower(",
        "coalesce(",
        "frob(",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "LIKE",
        "'%a'",
        "BETWEEN",
        "+",
        "*",
        ";",
        '"',
        "SELECT",
    ]
)


@st.composite
def rules_text(draw) -> str:
    lines = DEFAULT_RULES.splitlines()
    rng: random.Random = draw(st.randoms())
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["condition", "delete", "swap", "char", "value"]))
        i = rng.randrange(len(lines))
        if kind == "condition":
            whens = [n for n, line in enumerate(lines) if line.strip().startswith("when:")]
            n = rng.choice(whens)
            lines[n] = "    when: " + " ".join(
                draw(st.lists(condition_token, min_size=1, max_size=8))
            )
        elif kind == "delete":
            del lines[i]
        elif kind == "swap":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "char" and lines[i]:
            k = rng.randrange(len(lines[i]))
            lines[i] = (
                lines[i][:k] + draw(st.sampled_from(list(":-[]{}'\"#&*!| \t@"))) + lines[i][k + 1 :]
            )
        else:
            lines[i] = (
                lines[i].split(":")[0]
                + ": "
                + draw(st.sampled_from(["", "[]", "{}", "yes", "12", "[a, b]", "~", "'x'"]))
            )
    return "\n".join(lines) + "\n"


@FUZZ_SETTINGS
@given(text=rules_text())
def test_fuzzed_rules_never_crash(tmp_path_factory, text: str) -> None:
    folder = tmp_path_factory.mktemp("rules")
    rules = folder / "rules.yaml"
    rules.write_text(text, encoding="utf-8")
    invoke(
        [
            "classify",
            str(EXAMPLES / "contacts.csv"),
            "--deals",
            str(EXAMPLES / "deals.csv"),
            "--consent",
            str(EXAMPLES / "consent.csv"),
            "--rules",
            str(rules),
            "-o",
            str(folder / "out.csv"),
            "-q",
        ]
    )
