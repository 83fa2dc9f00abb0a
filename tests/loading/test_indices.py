"""`out_indices`: one parser, one resolver, a table of good and bad inputs."""

from __future__ import annotations

import pytest

from zoo.errors import OutIndicesError, UsageError, ZooError
from zoo.loading.indices import parse_out_indices, resolve_out_indices

LEVELS = 12


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (None, None),
        (2, 2),
        (0, 0),  # parses; resolving refuses it
        (-3, -3),
        ("2", 2),
        ("  2 ", 2),
        ("+2", 2),
        ("-2", -2),
        ("-2,-4", (-2, -4)),
        ("-2, -4", (-2, -4)),
        ("[-2,-4]", (-2, -4)),
        ("[-2, -4]", (-2, -4)),
        ("(-2, -4)", (-2, -4)),
        ("(-2,)", (-2,)),
        ("[3]", (3,)),
        ("[0, 5, 11,]", (0, 5, 11)),
        ("", None),
        ("none", None),
        ("None", None),
        ("null", None),
        ([-2, -4], (-2, -4)),
        ((1, 2, 3), (1, 2, 3)),
        ([], ()),
        (range(3), (0, 1, 2)),
    ],
    ids=repr,
)
def test_parse_good(value: object, parsed: object) -> None:
    result = parse_out_indices(value)
    assert result == parsed
    assert type(result) is type(parsed)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "is not an int or a list of ints"),
        (False, "is not an int or a list of ints"),
        (2.0, "is not an int or a list of ints"),
        (1.5, "is not an int or a list of ints"),
        ("2.5", "write e.g. 2, -2,-4 or [-2,-4]"),
        ("two", "is not an int or a list of ints"),
        ("-2,-4,", "is not an int or a list of ints"),
        ("1,,2", "is not an int or a list of ints"),
        ("[]", "is not an int or a list of ints"),
        ("[-2, -4)", "unbalanced brackets"),
        ("(-2, -4]", "unbalanced brackets"),
        ("[[1], 2]", "is not an int or a list of ints"),
        ([1, True], "every index must be an int"),
        ([1.0, 2], "every index must be an int"),
        ((1, "2"), "every index must be an int"),
        ({1, 2}, "is not an int or a list of ints"),
        ({"a": 1}, "is not an int or a list of ints"),
        (b"2", "is not an int or a list of ints"),
    ],
    ids=repr,
)
def test_parse_bad(value: object, message: str) -> None:
    with pytest.raises(UsageError, match=r"^out_indices ") as info:
        parse_out_indices(value)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ZooError)


@pytest.mark.parametrize(
    ("value", "resolved"),
    [
        (None, None),
        ("", None),
        (1, [11]),
        (2, [10, 11]),
        ("4", [8, 9, 10, 11]),
        (12, list(range(12))),
        ((-1,), [11]),
        ((-2, -4), [10, 8]),  # the order asked for is kept
        ("-2,-4", [10, 8]),
        ("[0, -1]", [0, 11]),
        ((0, 11), [0, 11]),
        ([5], [5]),
    ],
    ids=repr,
)
def test_resolve_good(value: object, resolved: list[int] | None) -> None:
    assert resolve_out_indices(value, LEVELS) == resolved


@pytest.mark.parametrize(
    ("value", "levels", "message"),
    [
        (0, LEVELS, "to select block 0 pass a list: out_indices=[0]"),
        (13, LEVELS, "asks for the last 13 blocks; the model has 12 (valid: 1..12)"),
        (
            -1,
            LEVELS,
            "an int n asks for the last n blocks (valid: 1..12); to select block -1 pass a list: out_indices=[-1]",
        ),
        ("-1", LEVELS, "out_indices=[-1]"),
        (-12, LEVELS, "out_indices=[-12]"),
        (-13, LEVELS, "an int n asks for the last n blocks (valid: 1..12)"),
        (
            (1, 1),
            LEVELS,
            "out_indices [1, 1]: 1 is the same block (1 of 0..11); give each block once",
        ),
        ([-1, 11], LEVELS, "-1 and 11 are the same block (11 of 0..11)"),
        ("[0, -12]", LEVELS, "0 and -12 are the same block"),
        ((2, 3, 2), LEVELS, "2 is the same block"),
        ((12,), LEVELS, "12 out of range; the model has 12 feature levels (valid: -12..11)"),
        ((-13,), LEVELS, "-13 out of range"),
        ("[-2, 20, -30]", LEVELS, "20, -30 out of range"),
        ([], LEVELS, "out_indices is empty"),
        (1, 0, "declares no feature levels"),
        ((0,), 0, "output.feature_levels is 0"),
    ],
    ids=repr,
)
def test_resolve_bad(value: object, levels: int, message: str) -> None:
    with pytest.raises(OutIndicesError) as info:
        resolve_out_indices(value, levels)
    assert message in str(info.value)
    # Callers may catch it as a usage error or as an index error.
    assert isinstance(info.value, UsageError)
    assert isinstance(info.value, IndexError)


def test_resolve_propagates_parse_errors() -> None:
    with pytest.raises(UsageError, match="not an int or a list of ints"):
        resolve_out_indices("a,b", LEVELS)


def test_resolve_bad_int_hint_is_left_out_when_no_list_would_do() -> None:
    with pytest.raises(OutIndicesError) as info:
        resolve_out_indices(-13, LEVELS)
    assert "pass a list" not in str(info.value)
