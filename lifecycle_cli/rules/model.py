"""Load rules.yaml, check it, and compile every condition once into a Polars expression."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp

from ..base.diagnostics import Diagnostic, from_rules_error, listed
from ..base.errors import RulesError
from .cases import load_cases
from .logic import KNOWN_SUFFIX, availability
from .yamlnodes import At, LinedYaml, load_lined_yaml

SOURCES = ("contacts", "deals", "consent", "companies")
COLUMN_TYPES = {"text": "str", "boolean": "bool", "datetime": "datetime", "number": "float"}

#: Columns each source must have (logical names); the rest are optional.
REQUIRED_COLUMNS = {
    "contacts": ("record_id", "stage"),
    "deals": ("stage",),
    "consent": ("subscription_type", "status", "timestamp"),
    "companies": ("record_id", "stage"),
}

#: Columns a rules file may leave out, with the headers HubSpot exports use: the companies
#: export, and the company links of contacts and deals (rules files written before companies).
DEFAULT_COLUMNS = {
    "companies": {
        "record_id": (
            "Record ID",
            "Record ID - Company",
            "hs_object_id",
            "Company ID",
            "Datensatz-ID",
        ),
        "stage": ("Lifecycle Stage", "lifecyclestage", "Lifecycle-Phase", "Lebenszyklusphase"),
        "name": ("Company name", "Name", "name", "Firmenname"),
    },
    "contacts": {
        "company_ids": (
            "Associated Company IDs",
            "Associated Company ID",
            "Record ID - Company",
            "associatedcompanyid",
            "Company IDs",
        )
    },
    "deals": {
        "company_ids": (
            "Associated Company IDs",
            "Associated Company ID",
            "Record ID - Company",
            "Company IDs",
        ),
        # Salesforce Data Export: a deleted opportunity is no evidence. Its own flag, as boolean.
        "is_deleted": {"headers": ["IsDeleted", "Is Deleted"], "type": "boolean"},
        # The deal's pipeline, named beside a stage the rules do not know.
        "pipeline": ("Pipeline", "hs_pipeline"),
    },
}

#: Value lists the facts are computed from; rules.yaml must define them.
BUILTIN_VALUES = (
    "won_deal_stages",
    "lost_deal_stages",
    "double_opt_in_confirmed",
    "marketing_subscription_types",
    "subscribed_statuses",
    "true_values",
    "false_values",
)

#: HubSpot's default sales pipeline, internal values and labels: known without a rules file naming
#: them.
HUBSPOT_OPEN_DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "Appointment Scheduled",
    "Qualified To Buy",
    "Presentation Scheduled",
    "Decision Maker Bought-In",
    "Contract Sent",
)
#: The lists that sort a deal's stage into won, lost or open.
DEAL_STAGE_LISTS = ("won_deal_stages", "lost_deal_stages", "open_deal_stages")
#: Value lists a rules file may leave out, and what they then hold.
DEFAULT_VALUES = {"open_deal_stages": HUBSPOT_OPEN_DEAL_STAGES}
#: The keys of a value list written as a mapping.
LIST_KEYS = ("in", "not_in", "closed", "sort_these")
#: What a missing column means: unknown (a warning), absent (unknown, declared: a note), empty (a
#: fact).
MISSING_MODES = ("unknown", "absent", "empty")

#: Facts computed from the deals and consent files, with their types.
FACTS = {
    "deals": "int",
    "won_deals": "int",
    "open_deals": "int",
    "lost_deals": "int",
    "marketing_consent": "bool",
    "double_opt_in": "bool",
    "email_domain": "str",
    "current_stage": "str",
}

TOP_KEYS = (
    "version",
    "stages",
    "columns",
    "values",
    "rules",
    "policies",
    "output",
    "report",
    "tests",
    "links",
)
STAGE_KEYS = ("id", "label", "value", "aliases", "sticky", "ranked")
RULE_KEYS = ("id", "stage", "description", "when", "overrides_sticky", "set")
POLICY_KEYS = ("sticky", "unknown", "without_deals")
OUTPUT_KEYS = ("previous_stage_column", "rule_column", "other_type_column")
REPORT_KEYS = ("redact", "history")
SETTABLE = ("other_type",)


@dataclass(frozen=True)
class Stage:
    id: str
    label: str
    value: str
    aliases: tuple[str, ...]
    sticky: bool
    ranked: bool
    rank: int


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    headers: tuple[str, ...]
    type: str  # "str", "bool", "datetime" or "float"
    #: The file may lack it although it is required (only the contacts' stage: then every stage is
    #: empty).
    optional: bool = False
    #: When the export lacks it: "unknown" (a warning), "absent" (the user knows the export never
    #: has it: still unknown, reported as a note) or "empty" (read as empty: a fact, e.g.
    #: IsConverted on a Salesforce contacts export, which has no such field because contacts are
    #: never leads).
    missing: str = "unknown"


@dataclass(frozen=True)
class ValueList:
    """A value list: the values it names (`members`), the values known not to be members, and
    whether every other value is a no (`closed`). In an open list, any other value is unknown."""

    name: str
    members: tuple[str, ...]
    non_members: tuple[str, ...] = ()
    closed: bool = False
    #: Values `lifecycle init --from` found in an export, for the user to sort into members or not.
    unsorted: tuple[str, ...] = ()
    line: int | None = None

    @property
    def known(self) -> tuple[str, ...]:
        return self.members + self.non_members


@dataclass(frozen=True)
class Condition:
    """One SQL condition, parsed and checked; `expr` is built by `to_polars`."""

    sql: str
    tree: exp.Expression
    names: frozenset[str]
    where: str


@dataclass(frozen=True)
class Rule:
    id: str
    stage: str
    description: str
    when: Condition
    overrides_sticky: bool
    sets: tuple[tuple[str, Condition], ...]
    line: int


@dataclass(frozen=True)
class Rules:
    path: str
    stages: tuple[Stage, ...]
    columns: dict[str, dict[str, ColumnSpec]]
    values: dict[str, tuple[str, ...]]
    rules: tuple[Rule, ...]
    sticky_rule_id: str
    unknown_rule_id: str
    previous_stage_column: str
    rule_column: str
    other_type_column: str
    #: What the rules file does that cannot be what was meant (a rule that can never decide, ...).
    warnings: tuple[Diagnostic, ...] = field(default=())
    redact: bool = (
        False  #: reports leave out names and emails (report: {redact: true}, or --redact)
    )
    #: report: {history: DIR}: the run-history folder (relative to the rules file's folder)
    history: str | None = None
    #: (deals column, contacts column): a deal that links to no contact counts for every contact
    #: of its account (links.deals_by_account); None: deals link by contact only.
    deals_by_account: tuple[str, str] | None = None
    #: Every value list with its known non-members (values: the members alone, as conditions read
    #: them).
    lists: dict[str, ValueList] = field(default_factory=dict)
    #: Whether the rules file was found by itself or is the packaged default (for hints: what to
    #: edit).
    packaged: bool = False
    #: Where the rules file was found when nobody named it (discover_rules), e.g. "in the working
    #: directory"; None when it was given (--rules, $LIFECYCLE_RULES) or built in.
    found_by_itself: str | None = None

    def stage(self, stage_id: str) -> Stage:
        return next(s for s in self.stages if s.id == stage_id)

    def stage_lookup(self) -> dict[str, str]:
        """Every accepted spelling (lower case, trimmed) of a stage, to its id."""
        lookup: dict[str, str] = {}
        for s in self.stages:
            for spelling in (s.id, s.label, s.value, *s.aliases):
                lookup.setdefault(spelling.strip().lower(), s.id)
        return lookup

    def referenced_columns(self) -> set[str]:
        names: set[str] = set()
        for rule in self.rules:
            names |= rule.when.names
            for _, cond in rule.sets:
                names |= cond.names
        return names & set(self.columns["contacts"])

    def rules_reading(self, name: str) -> list[str]:
        return [
            r.id
            for r in self.rules
            if name in r.when.names or any(name in c.names for _, c in r.sets)
        ]

    def availability(
        self,
        contacts: set[str],
        deals: set[str] | None,
        consent: set[str] | None,
        *,
        consent_statuses_known: bool = False,
    ) -> dict:
        """When each name a condition reads is decided (logic.availability), given the logical
        columns each file has (None: the file was not given); `consent_statuses_known`: the consent
        file was read and none of its statuses is one no list names."""
        spec = self.columns["contacts"]
        return availability(
            set(spec),
            contacts,
            deals,
            consent,
            "double_opt_in" in self.columns["consent"],
            open_lists=self.open_lists,
            empty_when_missing=frozenset(n for n, c in spec.items() if c.missing == "empty"),
            consent_statuses_known=consent_statuses_known,
        )

    @property
    def open_lists(self) -> frozenset[str]:
        """The lists in which a value they do not name is unknown rather than a no."""
        return frozenset(name for name, lst in self.lists.items() if not lst.closed)

    @property
    def compile_values(self) -> dict[str, tuple[str, ...]]:
        """The lists conditions compile against: each list's members, and for an open list (under
        NAME~known) every value it names, for `logic.known` to tell a listed value from an
        unknown one."""
        out = dict(self.values)
        for name in self.open_lists:
            out[name + KNOWN_SUFFIX] = self.lists[name].known
        return out

    def where_to_edit(self, key: str) -> str:
        """Where a user changes `key` (a dotted path in the rules file): the file in use, or for the
        packaged default, a file of their own to make first."""
        if self.packaged:
            return f"edit {key} in a rules file of your own (`lifecycle init` writes one)"
        return f"edit {key} in {self.path}"


def stages_at_or_above(rules: Rules, stage_id: str) -> list[str]:
    """The stages an undecided rule for `stage_id` stops: that stage and, for a ranked one, every
    ranked stage above it (an unranked stage such as Other stops only itself)."""
    target = rules.stage(stage_id)
    if not target.ranked:
        return [stage_id]
    return [s.id for s in rules.stages if s.ranked and s.rank >= target.rank]


# --------------------------------------------------------------------------- discovery


def packaged_rules_path() -> Path:
    packaged = resources.files("lifecycle_cli") / "rules.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    # Running from a source checkout: the default rules live at the repo root.
    return Path(__file__).resolve().parents[2] / "rules.yaml"


def discover_rules(
    explicit: str | None, contacts: str | None = None
) -> tuple[Path, str, str | None]:
    """--rules, then $LIFECYCLE_RULES, then rules.yaml in the working directory, then rules.yaml
    beside the contacts file (so a cron job run from elsewhere finds the rules kept with its
    exports), then the packaged default. Returns the path, its name for messages and, for a
    rules file nobody named (found by itself), where it was found: a run says so, even with -q,
    for a rules.yaml lying beside a downloaded export changes stages and settings."""
    if explicit:
        return Path(explicit), explicit, None
    env = os.environ.get("LIFECYCLE_RULES")
    if env:
        return Path(env), env, None
    local = Path("rules.yaml")
    if local.is_file():
        if local.resolve() == packaged_rules_path().resolve():
            # Run from a source checkout: its rules.yaml is the default rules, nothing picked up.
            return packaged_rules_path(), "default rules", None
        return local, "rules.yaml", "in the working directory"
    if contacts and contacts != "-":
        beside = Path(contacts).parent / "rules.yaml"
        if beside.is_file():
            return beside, str(beside), f"beside {contacts}"
    return packaged_rules_path(), "default rules", None


#: Packaged rules files (lifecycle_cli/presets/NAME.yaml); "hubspot" is the default rules.
PRESETS = ("hubspot", "hubspot-de", "salesforce")


def preset_path(name: str) -> Path:
    if name not in PRESETS:
        raise RulesError(
            f"--preset: unknown preset '{name}'{_suggest(name, PRESETS)} (presets: "
            f"{', '.join(PRESETS)})"
        )
    if name == "hubspot":
        return packaged_rules_path()
    return Path(str(resources.files("lifecycle_cli") / "presets" / f"{name}.yaml"))


def load_rules(path: Path, display: str | None = None) -> Rules:
    from dataclasses import replace

    doc = load_lined_yaml(path, display or str(path))
    rules = _RulesBuilder(doc).build()
    where = path.resolve()
    presets = Path(str(resources.files("lifecycle_cli") / "presets")).resolve()
    return replace(
        rules,
        packaged=display == "default rules"
        or where == packaged_rules_path().resolve()
        or where.parent == presets,
    )


#: Columns the tool itself reads (ids, stage, names, links, the derived facts' inputs): never
#: "unused".
TOOL_COLUMNS = frozenset(
    {
        "record_id",
        "stage",
        "email",
        "first_name",
        "last_name",
        "deal_ids",
        "company_ids",
        "opted_out_marketing",
        "unsubscribed_all",
        "confirmation_status",
    }
)


def validate_rules(path: Path, display: str) -> list[Diagnostic]:
    """Every problem of a rules file at once, without data: YAML, schema, stages, columns, value
    lists, conditions (syntax, names, types), duplicate ids, rules that can never decide, columns
    no rule reads, the test cases' layout. Each with its file, line, severity, message and hint,
    the rules file's own first, by line."""
    found: list[Diagnostic] = []
    try:
        doc = load_lined_yaml(path, display)
    except RulesError as error:
        return [from_rules_error(error)]
    builder = _RulesBuilder(doc, collect=True)
    rules = None
    try:
        rules = builder.build()
    except RulesError as error:
        builder.problems.append(error)
    found += [from_rules_error(error) for error in builder.problems]
    if rules is not None:
        found += rules.warnings
        found += _unsorted_values(doc, rules)
        if not builder.problems:  # a broken rule reads nothing: no "unused" noise then
            found += _unused_columns(doc, rules)
    try:
        load_cases(path, display)
    except RulesError as error:
        found.append(from_rules_error(error))
    found.sort(key=lambda p: (p.file != display, p.file or "", p.line or 0))
    return found


def _unsorted_values(doc: LinedYaml, rules: Rules) -> list[Diagnostic]:
    """A warning for each value list with values still to sort (`sort_these`)."""
    found = []
    for lst in rules.lists.values():
        if lst.unsorted:
            shown = listed((f"'{v}'" for v in lst.unsorted[:8]), len(lst.unsorted))
            where = (
                "to won_deal_stages, lost_deal_stages or open_deal_stages"
                if lst.name in DEAL_STAGE_LISTS
                else "under `in` or `not_in`"
            )
            found.append(
                doc.at(("values", lst.name, "sort_these")).warning(
                    f"value list '{lst.name}' has {len(lst.unsorted):,} value(s) still to sort: "
                    f"{shown}; move each {where} (until then it is unknown: contacts are kept, "
                    "never moved, on it)"
                )
            )
    return found


def _unused_columns(doc: LinedYaml, rules: Rules) -> list[Diagnostic]:
    """A warning for each contacts column the rules define but nothing reads."""
    read = set().union(
        *(r.when.names for r in rules.rules), *(c.names for r in rules.rules for _, c in r.sets)
    )
    if rules.deals_by_account:
        read.add(rules.deals_by_account[1])  # read by the deals' account link
    return [
        doc.at(("columns", "contacts", name)).warning(
            f"column '{name}' is defined but no rule reads it "
            "(a typo in a rule's condition, or a column left over?)"
        )
        for name in rules.columns["contacts"]
        if name not in read and name not in TOOL_COLUMNS
    ]


# --------------------------------------------------------------------------- validation


def _none() -> None:
    return None


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class _RulesBuilder:
    """Builds `Rules` from the YAML, raising at the first problem; with `collect`, as `lifecycle
    validate` does, it notes each problem and goes on (a broken rule, stage or column list is left
    out) so that one run lists them all."""

    def __init__(self, doc: LinedYaml, collect: bool = False) -> None:
        self.doc = doc
        self.problems: list[RulesError] | None = [] if collect else None

    def fail(self, path: tuple, message: str) -> RulesError:
        return self.doc.at(path).error(message)

    def problem(self, error: RulesError) -> None:
        if self.problems is None:
            raise error
        self.problems.append(error)

    def section(self, build, fallback, *args):
        """`build(*args)`, or when collecting and it fails, the problem noted and `fallback()`."""
        try:
            return build(*args)
        except RulesError as error:
            self.problem(error)
            return fallback()

    def keys(self, mapping: Any, path: tuple, allowed: tuple[str, ...], what: str) -> dict:
        if not isinstance(mapping, dict):
            raise self.fail(path, f"{what} must be a mapping of keys to values")
        for key in mapping:
            if key not in allowed:
                self.problem(
                    self.fail(
                        path + (key,),
                        f"unknown key '{key}' in {what}{_suggest(key, allowed)} (allowed: "
                        f"{', '.join(allowed)})",
                    )
                )
        return mapping

    def text(self, value: Any, path: tuple, what: str, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(path, f"{what} must be a non-empty text value")
        return value

    def text_list(self, value: Any, path: tuple, what: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(path, f"{what} must be a list of text values")
        return tuple(value)

    def flag(self, value: Any, path: tuple, default: bool, what: str = "") -> bool:
        if value is None:
            return default
        lowered = str(value).lower()
        if lowered in ("true", "yes"):
            return True
        if lowered in ("false", "no"):
            return False
        raise self.fail(path, f"{what + ': ' if what else ''}expected true or false, got '{value}'")

    def build(self) -> Rules:
        data = self.keys(
            self.doc.data if self.doc.data is not None else {}, (), TOP_KEYS, "the rules file"
        )
        for key in ("stages", "columns", "values", "rules"):
            if key not in data:
                self.problem(self.fail((), f"missing top-level key '{key}'"))
        if str(data.get("version", "1")) != "1":
            raise self.fail(
                ("version",),
                f"unsupported rules version '{data['version']}' (this lifecycle reads version 1)",
            )
        stages = self.section(
            lambda: self.build_stages(data.get("stages")),
            lambda: _fallback_stages(data.get("stages")),
        )
        stage_ids = [s.id for s in stages]
        columns = self.build_columns(data.get("columns") or {})
        lists = self.section(
            lambda: self.build_values(data.get("values")),
            lambda: _fallback_values(data.get("values")),
        )
        values = {name: lst.members for name, lst in lists.items()}
        names = {name: spec.type for name, spec in columns["contacts"].items()} | FACTS
        rules = self.build_rules(data.get("rules"), stage_ids, names, values)
        policies = self.keys(data.get("policies") or {}, ("policies",), POLICY_KEYS, "policies")
        sticky_id = self.text(
            policies.get("sticky", "sticky"), ("policies", "sticky"), "policies.sticky"
        )
        unknown_id = self.text(
            policies.get("unknown", "kept-unknown"), ("policies", "unknown"), "policies.unknown"
        )
        warnings = self.shadow_warnings(rules)
        if "without_deals" in policies:
            # Replaced by one mechanism for every file and column that is missing
            # (policies.unknown).
            warnings.append(
                self.doc.at(("policies", "without_deals")).warning(
                    "policies.without_deals is no longer used: a rule that cannot be decided "
                    "because a file or column is missing keeps a contact already at its stage "
                    f"(rule column: '{unknown_id}', set with policies.unknown); "
                    "remove without_deals"
                )
            )
        output = self.keys(data.get("output") or {}, ("output",), OUTPUT_KEYS, "output")
        report = self.keys(data.get("report") or {}, ("report",), REPORT_KEYS, "report")
        rule_ids = {r.id for r in rules}
        for policy_id, path in (
            (sticky_id, ("policies", "sticky")),
            (unknown_id, ("policies", "unknown")),
        ):
            if policy_id in rule_ids:
                raise self.fail(
                    path, f"policy id '{policy_id}' is also a rule id; give it another name"
                )
        if sticky_id == unknown_id:
            raise self.fail(
                ("policies", "unknown"),
                f"policies.unknown and policies.sticky are both '{sticky_id}'",
            )
        return Rules(
            path=self.doc.file,
            stages=stages,
            columns=columns,
            values=values,
            rules=rules,
            sticky_rule_id=sticky_id,
            unknown_rule_id=unknown_id,
            previous_stage_column=self.text(
                output.get("previous_stage_column", "Previous Lifecycle Stage"),
                ("output", "previous_stage_column"),
                "output.previous_stage_column",
            ),
            rule_column=self.text(
                output.get("rule_column", "Lifecycle Rule"),
                ("output", "rule_column"),
                "output.rule_column",
            ),
            other_type_column=self.text(
                output.get("other_type_column", "Other Type"),
                ("output", "other_type_column"),
                "output.other_type_column",
            ),
            warnings=tuple(warnings),
            redact=self.flag(report.get("redact"), ("report", "redact"), False, "report.redact"),
            history=(
                self.text(report["history"], ("report", "history"), "report.history")
                if report.get("history") is not None
                else None
            ),
            deals_by_account=self.section(
                lambda: self.build_links(data.get("links"), columns), lambda: None
            ),
            lists=lists,
        )

    def build_stages(self, raw: Any) -> tuple[Stage, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(("stages",), "stages must be a non-empty list, lowest stage first")
        stages: list[Stage] = []
        spellings: dict[str, str] = {}
        rank = 0
        for i, item in enumerate(raw):
            path = ("stages", i)
            item = self.keys(item, path, STAGE_KEYS, "a stage")
            stage_id = self.text(item.get("id"), path + ("id",), "stage id")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", stage_id):
                raise self.fail(
                    path + ("id",),
                    f"stage id '{stage_id}' must be lower case letters, digits and _",
                )
            if stage_id in [s.id for s in stages]:
                raise self.fail(path + ("id",), f"duplicate stage id '{stage_id}'")
            ranked = self.flag(item.get("ranked"), path + ("ranked",), True)
            stage = Stage(
                id=stage_id,
                label=self.text(item.get("label", stage_id), path + ("label",), "stage label"),
                value=self.text(item.get("value", stage_id), path + ("value",), "stage value"),
                aliases=self.text_list(item.get("aliases"), path + ("aliases",), "stage aliases"),
                sticky=self.flag(item.get("sticky"), path + ("sticky",), False),
                ranked=ranked,
                rank=rank if ranked else -1,
            )
            rank += ranked
            for spelling in (stage.id, stage.label, stage.value, *stage.aliases):
                key = spelling.strip().lower()
                if spellings.get(key, stage.id) != stage.id:
                    raise self.fail(
                        path,
                        f"'{spelling}' names both stage '{spellings[key]}' and stage '{stage.id}'",
                    )
                spellings[key] = stage.id
            stages.append(stage)
        return tuple(stages)

    def build_columns(self, raw: Any) -> dict[str, dict[str, ColumnSpec]]:
        raw = self.keys(raw, ("columns",), SOURCES, "columns")
        out: dict[str, dict[str, ColumnSpec]] = {}
        for source in SOURCES:
            out[source] = self.section(self._source_columns, dict, raw, source)
        return out

    def _source_columns(self, raw: dict, source: str) -> dict[str, ColumnSpec]:
        specs = raw.get(source) or {}
        path = ("columns", source)
        if not isinstance(specs, dict):
            raise self.fail(
                path, f"columns.{source} must map column names to the headers to look for"
            )
        defaults = DEFAULT_COLUMNS.get(source, {})
        copy = lambda h: dict(h) if isinstance(h, dict) else list(h)  # noqa: E731
        if source == "companies" and source not in raw:
            specs = {n: copy(h) for n, h in defaults.items()}
        elif source != "companies":
            specs = {**{n: copy(h) for n, h in defaults.items() if n not in specs}, **specs}
        out: dict[str, ColumnSpec] = {}
        for name, spec in specs.items():
            column = self.section(self._column, _none, source, path + (name,), name, spec)
            if column is not None:
                out[name] = column
        for name in REQUIRED_COLUMNS[source]:
            if name not in out:
                self.problem(self.fail(path, f"columns.{source} must name the '{name}' column"))
        return out

    def _column(self, source: str, path: tuple, name: str, spec: Any) -> ColumnSpec:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise self.fail(
                path,
                f"column name '{name}' must be lower case letters, digits and _ (it is used in "
                "conditions)",
            )
        if source == "contacts" and name in FACTS:
            raise self.fail(path, f"'{name}' is a computed fact; give the column another name")
        optional = False
        if isinstance(spec, dict):
            self.keys(spec, path, ("headers", "type", "optional", "missing"), f"column '{name}'")
            optional = self.flag(spec.get("optional"), path + ("optional",), False)
            missing = spec.get("missing", "unknown")
            if missing not in MISSING_MODES:
                raise self.fail(
                    path + ("missing",),
                    f"column '{name}': missing must be one of "
                    f"{', '.join(MISSING_MODES)} (unknown: a warning when the export lacks it; "
                    "absent: you know the export never has it, a note; empty: read it as empty)",
                )
            if optional and name != "stage":
                raise self.fail(
                    path + ("optional",),
                    "only a stage column can be optional (columns.contacts.stage, "
                    "columns.companies.stage); other columns are optional by not being required",
                )
            headers = self.text_list(spec.get("headers"), path + ("headers",), "headers")
            type_name = spec.get("type", "text")
            if type_name not in COLUMN_TYPES:
                raise self.fail(
                    path + ("type",),
                    f"unknown column type '{type_name}'{_suggest(str(type_name), COLUMN_TYPES)} "
                    f"(allowed: {', '.join(COLUMN_TYPES)})",
                )
        else:
            headers = self.text_list(spec, path, f"the headers of column '{name}'")
            type_name, missing = "text", "unknown"
        if not headers:
            raise self.fail(path, f"column '{name}' needs at least one header to look for")
        return ColumnSpec(name, headers, COLUMN_TYPES[type_name], optional, missing)

    def build_links(
        self, raw: Any, columns: dict[str, dict[str, ColumnSpec]]
    ) -> tuple[str, str] | None:
        """links.deals_by_account: {deals: COLUMN, contacts: COLUMN}, both declared under
        columns."""
        if raw is None:
            return None
        links = self.keys(raw, ("links",), ("deals_by_account",), "links")
        spec = links.get("deals_by_account")
        if spec is None:
            return None
        path = ("links", "deals_by_account")
        spec = self.keys(spec, path, ("deals", "contacts"), "links.deals_by_account")
        names = []
        for role in ("deals", "contacts"):
            name = self.text(
                spec.get(role),
                path + (role,),
                f"links.deals_by_account.{role} (a column under columns.{role})",
            )
            if name not in columns[role]:
                known = ", ".join(columns[role])
                raise self.fail(
                    path + (role,),
                    f"links.deals_by_account.{role}: '{name}' is not a column under "
                    f"columns.{role}{_suggest(name, columns[role])} (declared: {known})",
                )
            names.append(name)
        return names[0], names[1]

    def build_values(self, raw: Any) -> dict[str, ValueList]:
        if not isinstance(raw, dict):
            raise self.fail(("values",), "values must map list names to lists of values")
        lists: dict[str, ValueList] = {}
        for name, value in raw.items():
            lst = self.section(self._value_list, _none, str(name), value)
            if lst is not None:
                lists[lst.name] = lst
        for name in BUILTIN_VALUES:
            if name not in lists:
                raise self.fail(
                    ("values",), f"missing value list '{name}' (the facts are computed from it)"
                )
        for name, members in DEFAULT_VALUES.items():
            lists.setdefault(name, ValueList(name, members))
        return lists

    def _value_list(self, name: str, raw: Any) -> ValueList:
        """A list: plain (`[a, b]`, members only, every other value unknown), or a mapping with
        `in` (members), `not_in` (known non-members), `closed` (every other value is a no) and
        `sort_these` (values found in an export, still to be sorted into `in` or `not_in`)."""
        path = ("values", name)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise self.fail(
                path,
                f"value list name '{name}' must be letters, digits and _ (it is used as @{name})",
            )
        if not isinstance(raw, dict):
            members = self.text_list(raw, path, f"value list '{name}'")
            self._plain_values(members, path, name)
            return ValueList(name, members, line=self.doc.line(path))
        spec = self.keys(raw, path, LIST_KEYS, f"value list '{name}'")
        parts = {
            key: self.text_list(spec.get(key), path + (key,), f"value list '{name}' {key}")
            for key in ("in", "not_in", "sort_these")
        }
        for key, values in parts.items():
            self._plain_values(values, path + (key,), name)
        seen: dict[str, str] = {}
        for key in ("in", "not_in"):
            for value in parts[key]:
                folded = value.strip().lower()
                if seen.get(folded, key) != key:
                    raise self.fail(
                        path + (key,),
                        f"value list '{name}': '{value}' is both in `in` and in "
                        "`not_in`; keep it in one of them",
                    )
                seen[folded] = key
        return ValueList(
            name,
            parts["in"],
            parts["not_in"],
            self.flag(spec.get("closed"), path + ("closed",), False, f"value list '{name}' closed"),
            parts["sort_these"],
            self.doc.line(path),
        )

    def _plain_values(self, values: tuple[str, ...], path: tuple, name: str) -> None:
        """Values are compared as text: a control character cannot be typed in an export's cell."""
        for value in values:
            if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
                raise self.fail(
                    path,
                    f"value list '{name}': {value!r} holds a control character; "
                    "remove it (values are compared with the export's text)",
                )

    def build_rules(
        self, raw: Any, stage_ids: list[str], names: dict[str, str], values: dict
    ) -> tuple[Rule, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(("rules",), "rules must be a non-empty list")
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(raw):
            rule = self.section(self._rule, _none, i, item, seen, stage_ids, names, values)
            if rule is not None:
                rules.append(rule)
        return tuple(rules)

    def _rule(
        self,
        i: int,
        item: Any,
        seen: dict[str, int],
        stage_ids: list[str],
        names: dict[str, str],
        values: dict,
    ) -> Rule:
        path = ("rules", i)
        item = self.keys(item, path, RULE_KEYS, "a rule")
        rule_id = self.text(item.get("id"), path + ("id",), "rule id")
        if rule_id in seen:
            raise self.fail(
                path + ("id",),
                f"duplicate rule id '{rule_id}' (first used on line {seen[rule_id]})",
            )
        seen[rule_id] = self.doc.line(path + ("id",))
        stage_id = self.text(item.get("stage"), path + ("stage",), f"the stage of rule '{rule_id}'")
        if stage_id not in stage_ids:
            raise self.fail(
                path + ("stage",),
                f"rule '{rule_id}': unknown stage '{stage_id}'{_suggest(stage_id, stage_ids)} "
                f"(stages: {', '.join(stage_ids)})",
            )
        if "when" not in item:
            raise self.fail(path, f"rule '{rule_id}' has no condition ('when:')")
        when = parse_condition(
            item["when"],
            names,
            values,
            self.doc.at(path + ("when",)),
            f"rule '{rule_id}'",
            want_bool=True,
        )
        sets_raw = item.get("set") or {}
        if not isinstance(sets_raw, dict):
            raise self.fail(
                path + ("set",), f"rule '{rule_id}': set must map output columns to SQL expressions"
            )
        sets = []
        for target, sql in sets_raw.items():
            if target not in SETTABLE:
                raise self.fail(
                    path + ("set", target),
                    f"rule '{rule_id}': cannot set '{target}'{_suggest(target, SETTABLE)} "
                    f"(allowed: {', '.join(SETTABLE)})",
                )
            sets.append(
                (
                    target,
                    parse_condition(
                        sql,
                        names,
                        values,
                        self.doc.at(path + ("set", target)),
                        f"rule '{rule_id}' set {target}",
                        want_bool=False,
                    ),
                )
            )
        return Rule(
            id=rule_id,
            stage=stage_id,
            description=self.text(
                item.get("description"), path + ("description",), "description", required=False
            ),
            when=when,
            overrides_sticky=self.flag(
                item.get("overrides_sticky"), path + ("overrides_sticky",), False
            ),
            sets=tuple(sets),
            line=self.doc.line(path),
        )

    def shadow_warnings(self, rules: tuple[Rule, ...]) -> list[Diagnostic]:
        """Rules that can never decide: constant false, same condition as an earlier rule, or
        after a catch-all."""
        warnings = []
        seen: dict[str, str] = {}
        for i, rule in enumerate(rules):
            at = At(self.doc.file, rule.line)
            normal = rule.when.tree.sql(normalize=True)
            if isinstance(rule.when.tree, exp.Boolean) and rule.when.tree.this is False:
                warnings.append(
                    at.warning(f"rule '{rule.id}' can never match: its condition is always false")
                )
            elif normal in seen:
                warnings.append(
                    at.warning(
                        f"rule '{rule.id}' can never decide: rule '{seen[normal]}' before it has "
                        "the same condition"
                    )
                )
            seen.setdefault(normal, rule.id)
            if _is_always_true(rule.when.tree):
                for later in rules[i + 1 :]:
                    warnings.append(
                        At(self.doc.file, later.line).warning(
                            f"rule '{later.id}' can never decide: rule '{rule.id}' before it "
                            "always matches"
                        )
                    )
                break
        return warnings


def _fallback_stages(raw: Any) -> tuple[Stage, ...]:
    """The stage ids a broken stages list still names, so the rules can be checked against them."""
    ids = (
        [item.get("id") for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []
    )
    return tuple(
        Stage(i, i, i, (), False, True, n)
        for n, i in enumerate(x for x in ids if isinstance(x, str))
    )


def _fallback_values(raw: Any) -> dict[str, ValueList]:
    if not isinstance(raw, dict):
        return {}
    out = {}
    for k, v in raw.items():
        if isinstance(v, dict):
            v = v.get("in") or []
        if isinstance(v, (list, str)):
            out[str(k)] = ValueList(str(k), tuple(map(str, v)) if isinstance(v, list) else (v,))
    return out


def _is_always_true(tree: exp.Expression) -> bool:
    return isinstance(tree, exp.Boolean) and tree.this is True


# --------------------------------------------------------------------------- conditions

#: Function name -> (sqlglot node class, number of arguments or None for "one or more").
FUNCTIONS: dict[str, type[exp.Expression]] = {
    "lower": exp.Lower,
    "upper": exp.Upper,
    "trim": exp.Trim,
    "coalesce": exp.Coalesce,
    "length": exp.Length,
}
_COMPARISONS = {
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.GT: "gt",
    exp.GTE: "ge",
    exp.LT: "lt",
    exp.LTE: "le",
}
_ARITHMETIC = {exp.Add: "add", exp.Sub: "sub", exp.Mul: "mul", exp.Div: "truediv"}
_TYPE_WORDS = {
    "str": "text",
    "bool": "true/false",
    "int": "a number",
    "float": "a number",
    "datetime": "a date",
    "null": "NULL",
}


def parse_condition(
    sql: Any, names: dict[str, str], values: dict, at: At, what: str, *, want_bool: bool
) -> Condition:
    """`sql` parsed and checked; `at` is its place in the rules file and `what` names it in a
    problem ("rule 'x'")."""
    if isinstance(sql, bool):
        sql = str(sql).lower()
    if not isinstance(sql, str) or not sql.strip():
        raise at.error(f"{what}: the condition must be a non-empty SQL expression")
    depth = _nesting(sql)
    if depth > MAX_NESTING:
        raise at.error(
            f"{what}: the condition nests parentheses {depth} deep; at most {MAX_NESTING} levels "
            f"are supported\n  condition: {_shorten(sql)}"
        )
    try:
        return _parse_checked(sql, names, values, _Place(at, what, sql), want_bool)
    except RecursionError:
        raise at.error(
            f"{what}: the condition is too deeply nested to read (split it, or use IN (...) "
            f"or IN @list for long lists of alternatives)\n  condition: {_shorten(sql)}"
        ) from None


@dataclass(frozen=True)
class _Place:
    """A condition being checked: where it is, what it is, and its text (for its problems)."""

    at: At
    what: str
    sql: str

    def error(self, message: str) -> RulesError:
        return self.at.error(f"{self.what}: {message}\n  condition: {self.sql}")


#: Deepest parentheses in a condition: real ones have a handful, and each level costs sqlglot
#: (and `lifecycle sql`) many stack frames.
MAX_NESTING = 25
#: Deepest condition tree (a chain of 400 ORs is 400 deep): compiling and writing SQL recurse.
MAX_DEPTH = 400


def _depth(tree: exp.Expression) -> int:
    """The depth of a parsed condition, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


def _nesting(sql: str) -> int:
    """How deep the parentheses of `sql` go, outside quoted text."""
    depth = deepest = 0
    quote = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


def _shorten(sql: str, limit: int = 200) -> str:
    return sql if len(sql) <= limit else f"{sql[:limit]}... ({len(sql):,} characters)"


def _parse_checked(
    sql: str, names: dict[str, str], values: dict, place: _Place, want_bool: bool
) -> Condition:
    try:
        tree = sqlglot.parse_one(sql)
    except sqlglot.errors.ParseError as exc:
        detail = exc.errors[0] if exc.errors else {}
        column = f" at column {detail.get('col')}" if detail.get("col") else ""
        description = detail.get("description", str(exc)).split("\n")[0]
        missing = re.match(
            r"Required keyword: '(\w+)' missing for <class '[\w.]*\.(\w+)'>", description
        )
        if missing:  # sqlglot's wording for `won_deals >`: say it as a person would
            symbol = {"GT": ">", "GTE": ">=", "LT": "<", "LTE": "<=", "EQ": "=", "NEQ": "<>"}.get(
                missing.group(2).upper(), missing.group(2).upper()
            )
            description = f"the condition is incomplete: {symbol} needs a value on each side"
        raise place.error(f"SQL syntax error{column}: {description}") from None
    except sqlglot.errors.SqlglotError as exc:
        raise place.error(f"cannot read the condition: {str(exc).splitlines()[0]}") from None
    if _depth(tree) > MAX_DEPTH:
        raise RecursionError  # said by parse_condition
    checker = _Checker(names, values, place)
    result_type = checker.type_of(tree)
    if want_bool and result_type not in ("bool", "null"):
        raise place.error(
            f"the condition must be true or false, but it gives {_TYPE_WORDS[result_type]}"
        )
    where = f"{place.at}: {place.what}"
    return Condition(sql=sql, tree=tree, names=frozenset(checker.seen), where=where)


class _Checker:
    """Walks a parsed condition: rejects what we cannot compile and works out each node's type."""

    def __init__(self, names: dict[str, str], values: dict, place: _Place) -> None:
        self.names, self.values, self.place = names, values, place
        self.seen: set[str] = set()

    def fail(self, message: str) -> RulesError:
        return self.place.error(message)

    def type_of(self, node: exp.Expression) -> str:
        if type(node) in _COMPARISONS:
            self.comparable(self.type_of(node.this), self.type_of(node.expression), node)
            return "bool"
        if type(node) in _ARITHMETIC or isinstance(node, exp.Neg):
            for child in (node.this, node.args.get("expression")):
                if child is not None:
                    self.expect(child, "float", node)
            return "float"
        for kinds, check in _Checker.CHECKS:
            if isinstance(node, kinds):
                return check(self, node)
        raise self.fail(f"'{node.sql()}' is not supported in a condition")

    def _column(self, node: exp.Column) -> str:
        if node.table:
            raise self.fail(f"write column names without a table: '{node.sql()}'")
        name = node.name.lower()
        if name not in self.names:
            raise self.fail(
                f"unknown column '{node.name}'{_suggest(name, self.names)} (known: "
                f"{', '.join(sorted(self.names))})"
            )
        self.seen.add(name)
        return self.names[name]

    def _logic(self, node: exp.Expression) -> str:
        self.expect(node.this, "bool", node)
        if not isinstance(node, exp.Not):
            self.expect(node.expression, "bool", node)
        return "bool"

    def _in(self, node: exp.In) -> str:
        left = self.type_of(node.this)
        field_ = node.args.get("field")
        if isinstance(field_, exp.Parameter):
            return self._in_list(node, left, field_.name)
        if node.args.get("query") is not None or field_ is not None:
            raise self.fail(
                "IN takes a list of values, like IN ('a', 'b'), or a value list, like IN @name"
            )
        for item in node.expressions:
            if not isinstance(item, (exp.Literal, exp.Boolean, exp.Null)):
                raise self.fail(f"IN (...) takes plain values, not '{item.sql()}'")
            self.comparable(left, self.type_of(item), node)
        node.meta[_LEFT_TYPE] = left  # the compiler tests membership in one step where it can
        return "bool"

    def _in_list(self, node: exp.In, left: str, list_name: str) -> str:
        if list_name not in self.values:
            raise self.fail(
                f"unknown value list '@{list_name}'{_suggest(list_name, self.values)} "
                f"(defined under values: {', '.join(self.values)})"
            )
        if left not in ("str", "null"):
            raise self.fail(
                f"'IN @{list_name}' compares text, but '{node.this.sql()}' is {_TYPE_WORDS[left]}"
            )
        return "bool"

    def _is(self, node: exp.Is) -> str:
        self.type_of(node.this)
        if not isinstance(node.expression, (exp.Null, exp.Boolean)):
            raise self.fail(f"IS takes NULL, TRUE or FALSE, not '{node.expression.sql()}'")
        return "bool"

    def _like(self, node: exp.Expression) -> str:
        self.expect(node.this, "str", node)
        if not (isinstance(node.expression, exp.Literal) and node.expression.is_string):
            raise self.fail("LIKE takes a quoted pattern, like '%@example.com'")
        return "bool"

    def _between(self, node: exp.Between) -> str:
        left = self.type_of(node.this)
        self.comparable(left, self.type_of(node.args["low"]), node)
        self.comparable(left, self.type_of(node.args["high"]), node)
        return "bool"

    def _case(self, node: exp.Case) -> str:
        if node.this is not None:
            raise self.fail(
                "write CASE WHEN condition THEN value ... END (CASE x WHEN ... is not supported)"
            )
        result = "null"
        for branch in node.args.get("ifs") or []:
            self.expect(branch.this, "bool", node)
            result = self.merge(result, self.type_of(branch.args["true"]), node)
        if node.args.get("default") is not None:
            result = self.merge(result, self.type_of(node.args["default"]), node)
        return result

    def _parameter(self, node: exp.Parameter) -> str:
        raise self.fail(f"a value list (@{node.name}) can only follow IN")

    def _text(self, node: exp.Expression) -> str:
        """lower(), upper(), trim(): text in, text out; length(): text in, a number out."""
        if isinstance(node, exp.Trim) and (
            node.args.get("expression") is not None or node.args.get("position")
        ):
            raise self.fail("trim() takes one argument")
        self.expect(node.this, "str", node)
        return "float" if isinstance(node, exp.Length) else "str"

    def _coalesce(self, node: exp.Coalesce) -> str:
        result = self.type_of(node.this)
        for item in node.expressions:
            result = self.merge(result, self.type_of(item), node)
        return result

    def _function(self, node: exp.Func) -> str:
        name = (
            node.sql_name().lower()
            if not isinstance(node, exp.Anonymous)
            else str(node.this).lower()
        )
        raise self.fail(
            f"unknown function '{name}'{_suggest(name, FUNCTIONS)} (available: "
            f"{', '.join(FUNCTIONS)})"
        )

    #: What each kind of node is checked with, in this order (the functions lifecycle knows
    #: are nodes of their own, before any other function).
    CHECKS: tuple = (
        (exp.Paren, lambda self, node: self.type_of(node.this)),
        (exp.Column, _column),
        (exp.Literal, lambda self, node: "str" if node.is_string else "float"),
        (exp.Boolean, lambda self, node: "bool"),
        (exp.Null, lambda self, node: "null"),
        ((exp.And, exp.Or, exp.Not), _logic),
        (exp.In, _in),
        (exp.Is, _is),
        ((exp.Like, exp.ILike), _like),
        (exp.Between, _between),
        (exp.Case, _case),
        (exp.Parameter, _parameter),
        ((exp.Lower, exp.Upper, exp.Trim, exp.Length), _text),
        (exp.Coalesce, _coalesce),
        (exp.Func, _function),
    )

    def expect(self, node: exp.Expression, want: str, parent: exp.Expression) -> None:
        got = self.type_of(node)
        if got == "null" or got == want or (want == "float" and got == "int"):
            return
        raise self.fail(
            f"'{node.sql()}' is {_TYPE_WORDS[got]}, but '{parent.key.upper()}' needs "
            f"{_TYPE_WORDS[want]}"
        )

    def comparable(self, left: str, right: str, node: exp.Expression) -> None:
        numeric = ("int", "float")
        if "null" in (left, right) or left == right or (left in numeric and right in numeric):
            return
        if left == "datetime" and right == "str" or left == "str" and right == "datetime":
            return
        raise self.fail(
            f"cannot compare {_TYPE_WORDS[left]} with {_TYPE_WORDS[right]} in '{node.sql()}'"
        )

    def merge(self, left: str, right: str, node: exp.Expression) -> str:
        if left == "null":
            return right
        if right == "null" or left == right:
            return left
        if left in ("int", "float") and right in ("int", "float"):
            return "float"
        raise self.fail(f"'{node.sql()}' mixes {_TYPE_WORDS[left]} and {_TYPE_WORDS[right]}")


def to_polars(
    cond: Condition, col: Callable[[str], pl.Expr], values: dict[str, tuple[str, ...]]
) -> pl.Expr:
    """Compile a checked condition into one Polars expression (columns come from `col`)."""
    return _compile(cond.tree, col, values)


def to_polars_tree(
    tree: exp.Expression, col: Callable[[str], pl.Expr], values: dict[str, tuple[str, ...]]
) -> pl.Expr:
    """Compile a condition tree built by lifecycle itself (derived facts, logic.known's
    expressions)."""
    return _compile(tree, col, values)


#: Key of an IN node's `meta`: the type of the value tested (set by the checker).
_LEFT_TYPE = "lifecycle_left_type"
#: Past this many values, `one_of` looks values up instead of matching one regex of alternatives.
MANY_VALUES = 200


def _in_list(node: exp.In, left: pl.Expr) -> pl.Expr | None:
    """`x IN ('a', 'b', ...)` as one membership test, with SQL's NULLs (x NULL, or not found
    and NULL in the list: NULL); None when the values are not all text or all numbers.

    A chain of 20,000 comparisons took 46 s and 4 GB on a large export; this takes a blink.
    """
    kind = node.meta.get(_LEFT_TYPE)
    items = [item for item in node.expressions if not isinstance(item, exp.Null)]
    with_null = len(items) < len(node.expressions)
    if not items or not all(isinstance(item, exp.Literal) for item in items):
        return None
    if kind in ("str", "null") and all(item.is_string for item in items):
        member = left.is_in(
            pl.lit(pl.Series([item.this for item in items], dtype=pl.String)).implode()
        )
    elif kind in ("int", "float") and not any(item.is_string for item in items):
        member = left.cast(pl.Float64).is_in(
            pl.lit(pl.Series([float(item.this) for item in items], dtype=pl.Float64)).implode()
        )
    else:
        return None
    return pl.when(member).then(True).otherwise(None) if with_null else member


def one_of(expr: pl.Expr, values: tuple[str, ...]) -> pl.Expr:
    """True when the text is one of `values`, ignoring case and surrounding spaces (null stays
    null).

    One case-insensitive regex scan: several times cheaper than trimming and lower-casing
    every value first, which matters on millions of rows.
    """
    if not values:
        return pl.when(expr.is_null()).then(None).otherwise(False)
    if len(values) > MANY_VALUES:  # one regex of thousands of alternatives is slow to build and run
        wanted = pl.Series(list(dict.fromkeys(v.strip().lower() for v in values)), dtype=pl.String)
        return expr.str.strip_chars().str.to_lowercase().is_in(pl.lit(wanted).implode())
    alternatives = "|".join(re.escape(v.strip()) for v in dict.fromkeys(values))
    return expr.str.contains(rf"(?i)^\s*(?:{alternatives})\s*$")


def _like_regex(pattern: str) -> str:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return "(?s)^" + "".join(out) + "$"


def _compile(node: exp.Expression, col: Callable[[str], pl.Expr], values: dict) -> pl.Expr:
    c = lambda n: _compile(n, col, values)  # noqa: E731
    if isinstance(node, exp.Column):
        return col(node.name.lower())
    if type(node) in _COMPARISONS:
        return getattr(c(node.this), _COMPARISONS[type(node)])(c(node.expression))
    if type(node) in _ARITHMETIC:
        return getattr(c(node.this), _ARITHMETIC[type(node)])(c(node.expression))
    if isinstance(node, exp.In):
        return _compile_in(node, c, values)
    for kinds, compile_ in _COMPILERS:
        if isinstance(node, kinds):
            return compile_(node, c)
    raise AssertionError(f"unchecked node {node.key}")  # the checker rejects everything else


def _compile_literal(node: exp.Literal, c) -> pl.Expr:
    if node.is_string:
        return pl.lit(node.this, dtype=pl.String)
    number = float(node.this)
    return pl.lit(int(number) if number.is_integer() else number)


def _compile_in(node: exp.In, c, values: dict) -> pl.Expr:
    field_ = node.args.get("field")
    if isinstance(field_, exp.Parameter):
        return one_of(c(node.this), values[field_.name])
    left = c(node.this)
    fast = _in_list(node, left)
    if fast is not None:
        return fast
    return pl.any_horizontal([left == c(item) for item in node.expressions])


def _compile_is(node: exp.Is, c) -> pl.Expr:
    target = c(node.this)
    if isinstance(node.expression, exp.Null):
        return target.is_null()
    return (target == pl.lit(bool(node.expression.this))).fill_null(False)


def _compile_like(node: exp.Expression, c) -> pl.Expr:
    regex = _like_regex(node.expression.this)
    if isinstance(node, exp.ILike):
        regex = "(?i)" + regex
    return c(node.this).str.contains(regex)


def _compile_between(node: exp.Between, c) -> pl.Expr:
    target = c(node.this)
    return (target >= c(node.args["low"])) & (target <= c(node.args["high"]))


def _compile_case(node: exp.Case, c) -> pl.Expr:
    branches = node.args.get("ifs") or []
    chain = pl.when(c(branches[0].this)).then(c(branches[0].args["true"]))
    for branch in branches[1:]:
        chain = chain.when(c(branch.this)).then(c(branch.args["true"]))
    default = node.args.get("default")
    return chain.otherwise(c(default) if default is not None else pl.lit(None))


#: How each other kind of node (the checker lets through) compiles, given the compiler of its
#: children.
_COMPILERS: tuple = (
    (exp.Paren, lambda node, c: c(node.this)),
    (exp.Literal, _compile_literal),
    (exp.Boolean, lambda node, c: pl.lit(bool(node.this), dtype=pl.Boolean)),
    (exp.Null, lambda node, c: pl.lit(None)),
    (exp.And, lambda node, c: c(node.this) & c(node.expression)),
    (exp.Or, lambda node, c: c(node.this) | c(node.expression)),
    (exp.Not, lambda node, c: ~c(node.this)),
    (exp.Neg, lambda node, c: -c(node.this)),
    (exp.Is, _compile_is),
    ((exp.Like, exp.ILike), _compile_like),
    (exp.Between, _compile_between),
    (exp.Case, _compile_case),
    (exp.Lower, lambda node, c: c(node.this).str.to_lowercase()),
    (exp.Upper, lambda node, c: c(node.this).str.to_uppercase()),
    (exp.Trim, lambda node, c: c(node.this).str.strip_chars()),
    (exp.Length, lambda node, c: c(node.this).str.len_chars()),
    (exp.Coalesce, lambda node, c: pl.coalesce([c(node.this), *(c(e) for e in node.expressions)])),
)
