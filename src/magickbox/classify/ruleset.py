"""A loaded rule file and the one way to use it: the classes of one series from its headers.

Evaluation is at series level. Tests read instances; references and ClassifyType read the
series' classes. A type holds when every reference holds and its tests all pass on at least one
instance, or on every instance with `check: "SeriesLevel"`. Instances whose read tags are equal
are evaluated once, so a 1000-slice series costs about as much as a handful of instances.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter
from importlib import resources
from pathlib import Path
from typing import Any

from magickbox.classify.model import RuleError, TagRef, TypeRule, parse_types
from magickbox.classify.operators import run_test
from magickbox.classify.values import (
    CLASSIFY_TYPE,
    IMAGE_PLANE,
    MISSING,
    NUM_FILES,
    DecodedCache,
    Header,
    Value,
    image_plane,
    read_tag,
    texts_value,
)

MAX_FILE_BYTES = 4 << 20  # a rule file is text a person writes; beyond this it is a mistake
SOP_INSTANCE_UID = 0x00080018
SERIES_INSTANCE_UID = 0x0020000E
DEFAULT_RULES = "default_rules.json"

# The tags one instance is read at, in a fixed order, and the Values read there.
Signature = tuple[Value, ...]


class RuleSet:
    """Compiled types of one rule file, in file order, with their evaluation order checked."""

    def __init__(self, types: list[TypeRule], *, source: str) -> None:
        self.types = types
        self.source = source
        self._order = _evaluation_order(types, source)
        reads = {test.tag for rule in types for test in rule.tests if test.tag.reads_header()}
        self._tags: tuple[TagRef, ...] = tuple(sorted(reads, key=repr))
        self._slot = {tag: slot for slot, tag in enumerate(self._tags)}

    @property
    def classes(self) -> list[str]:
        """Every class the file can give, in file order, each once."""
        return list(dict.fromkeys(rule.name for rule in self.types))

    @property
    def tags(self) -> list[int]:
        """Every DICOM tag classification reads (with SOPInstanceUID and SeriesInstanceUID), so a
        caller may read only these: `dcmread(path, stop_before_pixels=True, specific_tags=...)`."""
        read = {tag.tag for tag in self._tags if tag.tag is not None}
        return sorted(read | {SOP_INSTANCE_UID, SERIES_INSTANCE_UID})

    def classify(self, headers: Iterable[Header]) -> list[str]:
        """The classes of one series, given the headers of all its instances (pydicom Datasets
        read with stop_before_pixels=True, or mappings by keyword): in file order, each once;
        [] for no headers. Never raises on what the headers hold."""
        signatures: dict[Signature, None] = {}
        cache: DecodedCache = {}
        uids: set[str] = set()
        without_uid = 0  # instances without a SOPInstanceUID count one each
        for header in headers:
            signatures.setdefault(tuple(self._read(header, tag, cache) for tag in self._tags))
            uid = read_tag(header, SOP_INSTANCE_UID).texts[:1]
            uids.update(uid)
            without_uid += not uid
        if not signatures:
            return []
        held = self._evaluate(list(signatures), num_files=len(uids) + without_uid)
        return list(dict.fromkeys(rule.name for rule in self.types if held[rule.index]))

    def classify_study(self, headers: Iterable[Header]) -> dict[str, list[str]]:
        """Classes per SeriesInstanceUID for the headers of any number of series (a header
        without a SeriesInstanceUID is grouped under "")."""
        series: dict[str, list[Header]] = {}
        for header in headers:
            uid = read_tag(header, SERIES_INSTANCE_UID).texts[:1]
            series.setdefault(uid[0] if uid else "", []).append(header)
        return {uid: self.classify(members) for uid, members in series.items()}

    def _read(self, header: Header, tag: TagRef, cache: DecodedCache) -> Value:
        assert tag.tag is not None
        value = read_tag(header, tag.tag, cache)
        if tag.pseudo == IMAGE_PLANE:
            value = image_plane(value)
        if tag.index is not None:
            return texts_value(value.texts[tag.index : tag.index + 1])
        return value

    def _evaluate(self, signatures: list[Signature], *, num_files: int) -> list[bool]:
        held = [False] * len(self.types)
        for index in self._order:
            rule = self.types[index]
            if not all(any(held[t] for t in ref.targets) != ref.negated for ref in rule.refs):
                continue
            series = {NUM_FILES: texts_value([str(num_files)])}
            if rule.uses_classes():
                earlier = [r.name for r in self.types[:index] if held[r.index]]
                series[CLASSIFY_TYPE] = texts_value(dict.fromkeys(earlier))
            quantifier = all if rule.series_level else any
            held[index] = quantifier(self._passes(rule, sig, series) for sig in signatures)
        return held

    def _passes(self, rule: TypeRule, signature: Signature, series: dict[str, Value]) -> bool:
        for test in rule.tests:
            if test.tag.reads_header():
                value = signature[self._slot[test.tag]]
            else:
                value = series.get(test.tag.pseudo or "", MISSING)
                if test.tag.index is not None:
                    value = texts_value(value.texts[test.tag.index : test.tag.index + 1])
            if not run_test(test, value):
                return False
        return True


def _evaluation_order(types: list[TypeRule], source: str) -> list[int]:
    graph: dict[int, set[int]] = {}
    for rule in types:
        needs = {target for ref in rule.refs for target in ref.targets}
        if rule.uses_classes():
            needs.update(range(rule.index))
        graph[rule.index] = needs
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = " -> ".join(_label(types[i]) for i in exc.args[1])
        raise RuleError(f"{source}: references go round in a cycle: {cycle}") from None


def _label(rule: TypeRule) -> str:
    return f"types[{rule.index}] ({'id' if rule.id else 'type'} {rule.id or rule.name!r})"


def parse_rules(data: Any, *, source: str = "<rules>") -> RuleSet:
    """A RuleSet from a decoded rule file (a JSON list of types); RuleError naming the place
    of the first mistake (`source: types[i] (id 'x') rules[j]: what is wrong`)."""
    return RuleSet(parse_types(data, source=source), source=source)


def load_rules(path: Path | None = None) -> RuleSet:
    """The rule file at `path` (the `classify_rules` setting), or the shipped default for None;
    RuleError (an InvalidInput) if it is unreadable, not JSON, or any rule is wrong."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
        return parse_rules(json.loads(text), source=DEFAULT_RULES)
    source = str(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RuleError(f"{source}: cannot read the rule file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise RuleError(f"{source}: larger than {MAX_FILE_BYTES} bytes; is it a rule file?")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RuleError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RuleError(f"{source}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return parse_rules(data, source=source)
