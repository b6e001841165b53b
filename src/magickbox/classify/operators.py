"""The operators of a test, each on a present Value's texts: True, False, or None when the value
cannot be compared (a number wanted, text found); the caller makes None a failed test."""

from __future__ import annotations

from collections.abc import Callable

from magickbox.classify.model import Test
from magickbox.classify.values import Value, number


def run_test(test: Test, value: Value) -> bool:
    """Whether `value` passes `test`. `exist`/`notexist` look at presence and honour negate; any
    other operator fails on a missing, empty or incomparable value whatever negate says (negate
    inverts the comparison, not the absence of what is compared)."""
    if test.operator in ("exist", "notexist"):
        return (value.present == (test.operator == "exist")) != test.negate
    if not value.present:
        return False
    result = _OPERATORS[test.operator](test, value.texts)
    return result is not None and result != test.negate


def _numbers(texts: tuple[str, ...]) -> list[float] | None:
    numbers = [number(text) for text in texts]
    if not numbers or any(n is None for n in numbers):
        return None
    return [n for n in numbers if n is not None]


def _regexp(test: Test, texts: tuple[str, ...]) -> bool | None:
    assert test.pattern is not None
    return any(test.pattern.search(text) for text in texts)


def _contains(test: Test, texts: tuple[str, ...]) -> bool | None:
    # as the original: a single value contains a substring, a multi-value one of its values
    # (so ImageType contains "M" means the magnitude value, not the M of PRIMARY)
    if len(texts) == 1:
        return str(test.expected) in texts[0]
    return str(test.expected) in texts


def _equal(test: Test, texts: tuple[str, ...]) -> bool | None:
    if isinstance(test.expected, str):
        return test.expected in texts
    numbers = _numbers(texts)
    return None if numbers is None else any(n == test.expected for n in numbers)


def _not_equal(test: Test, texts: tuple[str, ...]) -> bool | None:
    equal = _equal(test, texts)
    return None if equal is None else not equal


def _compare(before: bool) -> Callable[[Test, tuple[str, ...]], bool | None]:
    def compare(test: Test, texts: tuple[str, ...]) -> bool | None:
        numbers = _numbers(texts)
        if numbers is None or not isinstance(test.expected, float):
            return None
        return any((n < test.expected) if before else (n > test.expected) for n in numbers)

    return compare


def _approx(test: Test, texts: tuple[str, ...]) -> bool | None:
    numbers = _numbers(texts)
    if numbers is None:
        return None
    if isinstance(test.expected, tuple):  # element-wise: same length, every item within the level
        if len(numbers) != len(test.expected):
            return False
        return all(abs(n - e) <= test.level for n, e in zip(numbers, test.expected, strict=True))
    assert isinstance(test.expected, float)
    return any(abs(n - test.expected) <= test.level for n in numbers)


_OPERATORS: dict[str, Callable[[Test, tuple[str, ...]], bool | None]] = {
    "regexp": _regexp,
    "contains": _contains,
    "==": _equal,
    "!=": _not_equal,
    "<": _compare(before=True),
    ">": _compare(before=False),
    "approx": _approx,
}
