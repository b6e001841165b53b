"""The rule file, checked once at load: every mistake is a RuleError naming its place.

A file is a JSON list of types; each is compiled to a `TypeRule` whose tests are ready to run
(regexps compiled, tags resolved, numbers parsed) and whose references point at type indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import tag_for_keyword

from magickbox.classify.values import CLASSIFY_TYPE, IMAGE_PLANE, IOP_TAG, NUM_FILES, PSEUDO_TAGS, number
from magickbox.errors import InvalidInput

OPERATORS = ("regexp", "==", "!=", "<", ">", "contains", "approx", "exist", "notexist")
DEFAULT_APPROX_LEVEL = 1e-4  # the original's default
_TYPE_KEYS = {"type", "id", "rules", "check", "description"}
_TEST_KEYS = {"tag", "value", "operator", "negate", "approxLevel", "description"}
_REF_KEYS = {"rule", "notrule", "description"}
_TAG_TEXT = re.compile(r"\(?([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)?")
_NEGATE = {"yes": True, "no": False, True: True, False: False}
# Names of the original's series JSON that are no DICOM keyword, kept so its rule files load.
ORIGINAL_NAMES = {"SliceSpacing": 0x00180088, "Private0019_10BB": 0x001910BB, "Private0043_1039": 0x00431039}


class RuleError(InvalidInput):
    """A rule file that cannot be used; the message names the file and the place in it."""


@dataclass(frozen=True, slots=True)
class TagRef:
    """Where a test reads: a DICOM tag or one of the names in values.PSEUDO_TAGS, optionally
    one item (0-based) of a multi-valued element."""

    tag: int | None
    pseudo: str | None
    index: int | None

    def reads_header(self) -> bool:
        """True when the value comes from each instance (not from the series as a whole)."""
        return self.pseudo not in (NUM_FILES, CLASSIFY_TYPE)


@dataclass(frozen=True, slots=True)
class Test:
    """One comparison of a tag's value; `expected` is a float, a str, or a tuple of floats."""

    tag: TagRef
    operator: str
    expected: float | str | tuple[float, ...] | None
    pattern: re.Pattern[str] | None
    negate: bool
    level: float


@dataclass(frozen=True, slots=True)
class Ref:
    """`{"rule": name}` (negated False) or `{"notrule": name}`: the types whose id or class is name."""

    name: str
    negated: bool
    targets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TypeRule:
    """One type of the file: its class name, id, quantifier and compiled rules."""

    index: int
    name: str
    id: str | None
    series_level: bool
    tests: tuple[Test, ...]
    refs: tuple[Ref, ...]

    def uses_classes(self) -> bool:
        """True when a test reads ClassifyType (so it depends on every earlier type)."""
        return any(test.tag.pseudo == CLASSIFY_TYPE for test in self.tests)


def place(source: str, index: int, raw: Any, rule: int | None = None) -> str:
    """`file: types[3] (id 'T1')` or with `rules[2]`: how an error names where it is."""
    label = ""
    if isinstance(raw, dict):
        name = raw.get("id") or raw.get("type")
        label = f" ({'id' if raw.get('id') else 'type'} {name!r})" if isinstance(name, str) else ""
    where = f"{source}: types[{index}]{label}"
    return where if rule is None else f"{where} rules[{rule}]"


def parse_types(data: Any, *, source: str) -> list[TypeRule]:
    """Every type of a decoded rule file, compiled; RuleError at the first mistake."""
    if not isinstance(data, list):
        raise RuleError(f"{source}: a rule file is a JSON list of types, not {type(data).__name__}")
    shells = [_type_shell(source, index, raw) for index, raw in enumerate(data)]
    targets = _reference_targets(source, shells)
    return [_compile_type(source, index, raw, targets) for index, raw in enumerate(data)]


def _type_shell(source: str, index: int, raw: Any) -> tuple[str, str | None]:
    where = place(source, index, raw)
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: a type is a JSON object, not {type(raw).__name__}")
    unknown = sorted(set(raw) - _TYPE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {unknown} (a type has {sorted(_TYPE_KEYS)})")
    name, ident = raw.get("type"), raw.get("id")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{where}: 'type' (the class name) must be a non-empty string")
    if ident is not None and (not isinstance(ident, str) or not ident.strip()):
        raise RuleError(f"{where}: 'id' must be a non-empty string")
    if raw.get("check", "SeriesLevel") != "SeriesLevel":
        raise RuleError(f"{where}: 'check' can only be \"SeriesLevel\", not {raw['check']!r}")
    rules = raw.get("rules")
    if not isinstance(rules, list) or not rules:
        raise RuleError(f"{where}: 'rules' must be a non-empty list")
    return name, ident


def _reference_targets(source: str, shells: list[tuple[str, str | None]]) -> dict[str, list[int]]:
    targets: dict[str, list[int]] = {}
    seen_ids: set[str] = set()
    for index, (name, ident) in enumerate(shells):
        if ident is not None:
            if ident in seen_ids:
                raise RuleError(f"{source}: types[{index}]: id {ident!r} is used by an earlier type too")
            seen_ids.add(ident)
            targets.setdefault(ident, []).append(index)
        if ident != name:
            targets.setdefault(name, []).append(index)
    return targets


def _compile_type(source: str, index: int, raw: dict[str, Any], targets: dict[str, list[int]]) -> TypeRule:
    tests: list[Test] = []
    refs: list[Ref] = []
    for position, rule in enumerate(raw["rules"]):
        where = place(source, index, raw, position)
        if isinstance(rule, dict) and ("rule" in rule or "notrule" in rule):
            refs.append(_reference(where, rule, targets))
        else:
            tests.append(_test(where, rule))
    return TypeRule(
        index=index,
        name=raw["type"],
        id=raw.get("id"),
        series_level=raw.get("check") == "SeriesLevel",
        tests=tuple(tests),
        refs=tuple(refs),
    )


def _reference(where: str, rule: dict[str, Any], targets: dict[str, list[int]]) -> Ref:
    unknown = sorted(set(rule) - _REF_KEYS)
    if unknown or ("rule" in rule and "notrule" in rule):
        raise RuleError(f'{where}: a reference is {{"rule": id}} or {{"notrule": id}} alone')
    negated = "notrule" in rule
    name = rule["notrule" if negated else "rule"]
    if not isinstance(name, str) or name not in targets:
        raise RuleError(f"{where}: reference to {name!r}, which is no type's id or class")
    return Ref(name=name, negated=negated, targets=tuple(targets[name]))


def _test(where: str, rule: Any) -> Test:
    if not isinstance(rule, dict):
        raise RuleError(f"{where}: a rule is a JSON object, not {type(rule).__name__}")
    unknown = sorted(set(rule) - _TEST_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {unknown} (a rule has {sorted(_TEST_KEYS)})")
    if "tag" not in rule:
        raise RuleError(f"{where}: a rule needs 'tag' (or is a {{\"rule\": id}} reference)")
    operator = rule.get("operator", "regexp")
    if operator not in OPERATORS:
        raise RuleError(f"{where}: unknown operator {operator!r} (one of {', '.join(OPERATORS)})")
    negate = rule.get("negate", False)
    if not isinstance(negate, str | bool) or negate not in _NEGATE:
        raise RuleError(f'{where}: \'negate\' is "yes", "no", true or false, not {negate!r}')
    if "approxLevel" in rule and operator != "approx":
        raise RuleError(f"{where}: 'approxLevel' belongs to the approx operator only")
    if operator not in ("exist", "notexist") and "value" not in rule:
        raise RuleError(f"{where}: operator {operator!r} needs a 'value'")
    expected, pattern = _expected(where, operator, rule.get("value"))
    return Test(
        tag=parse_tag(where, rule["tag"]),
        operator=operator,
        expected=expected,
        pattern=pattern,
        negate=_NEGATE[negate],
        level=_level(where, rule.get("approxLevel", DEFAULT_APPROX_LEVEL)),
    )


def parse_tag(where: str, raw: Any) -> TagRef:
    """A tag as a rule writes it: "Keyword", ["Keyword"], ["Keyword", index], "(gggg,eeee)",
    [group, element] or [group, element, index] (groups and elements as hex text or integers)."""
    parts = raw if isinstance(raw, list) else [raw]
    if parts and isinstance(parts[0], str) and not _is_number_text(parts[0]):
        named = _named_tag(where, parts[0])
        if len(parts) == 1:
            return named
        if len(parts) == 2:
            return TagRef(named.tag, named.pseudo, _index(where, parts[1]))
    elif len(parts) in (2, 3):
        group, element = _tag_part(where, parts[0]), _tag_part(where, parts[1])
        index = _index(where, parts[2]) if len(parts) == 3 else None
        return TagRef((group << 16) | element, None, index)
    raise RuleError(f"{where}: tag {raw!r} is not a keyword, [group, element] or [group, element, index]")


def _named_tag(where: str, name: str) -> TagRef:
    if name in PSEUDO_TAGS:
        return TagRef(IOP_TAG if name == IMAGE_PLANE else None, name, None)
    if name in ORIGINAL_NAMES:
        return TagRef(ORIGINAL_NAMES[name], None, None)
    match = _TAG_TEXT.fullmatch(name.strip())
    if match:
        return TagRef(int(match[1], 16) << 16 | int(match[2], 16), None, None)
    tag = tag_for_keyword(name)
    if tag is None:
        raise RuleError(
            f"{where}: unknown keyword {name!r} (a DICOM keyword such as EchoTime, or one of {PSEUDO_TAGS})"
        )
    return TagRef(tag, None, None)


def _is_number_text(text: str) -> bool:
    return re.fullmatch(r"(0[xX])?[0-9A-Fa-f]{1,4}", text.strip()) is not None


def _tag_part(where: str, raw: Any) -> int:
    try:
        value = raw if isinstance(raw, int) and not isinstance(raw, bool) else int(str(raw).strip(), 16)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFF:
        raise RuleError(f'{where}: {raw!r} is not a group or element (hex text such as "0x0020" or "0020")')
    return value


def _index(where: str, raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise RuleError(f"{where}: a tag's index is a whole number from 0, not {raw!r}")
    return raw


def _level(where: str, raw: Any) -> float:
    level = number(str(raw)) if isinstance(raw, int | float | str) and not isinstance(raw, bool) else None
    if level is None or level < 0:
        raise RuleError(f"{where}: 'approxLevel' is a number from 0, not {raw!r}")
    return level


def _expected(
    where: str, operator: str, raw: Any
) -> tuple[float | str | tuple[float, ...] | None, re.Pattern[str] | None]:
    if operator in ("exist", "notexist"):
        return None, None
    scalar = isinstance(raw, str | int | float) and not isinstance(raw, bool)
    if operator in ("regexp", "contains"):
        if not scalar:
            raise RuleError(f"{where}: {operator} needs a string value, not {raw!r}")
        text = str(raw)
        if operator == "contains":
            return text, None
        try:
            return text, re.compile(text)
        except re.error as exc:
            raise RuleError(f"{where}: bad regular expression {text!r}: {exc}") from None
    numeric = number(str(raw)) if scalar else None
    if operator == "approx" and isinstance(raw, list) and raw:
        numbers = [number(str(item)) if not isinstance(item, bool | list | dict) else None for item in raw]
        if all(n is not None for n in numbers):
            return tuple(n for n in numbers if n is not None), None
    if numeric is not None:
        return numeric, None
    if operator in ("==", "!=") and isinstance(raw, str):
        return raw, None  # text equality, e.g. Modality == "MR"
    wanted = "a number or a list of numbers" if operator == "approx" else "a number"
    raise RuleError(f"{where}: operator {operator!r} needs {wanted}, not {raw!r}")
