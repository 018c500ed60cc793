"""The JSON depth check counts only real nesting: brackets inside strings (and escaped quotes) do not."""

import pytest

from shared.body_limits import json_depth_exceeds


@pytest.mark.parametrize(
    ("body", "limit", "too_deep"),
    [
        (b'{"a": [1, 2, {"b": []}]}', 4, False),
        (b'{"a": [1, 2, {"b": []}]}', 3, True),
        (b"[" * 33 + b"]" * 33, 32, True),
        (b"[" * 32 + b"]" * 32, 32, False),
        (b'{"text": "' + b"[" * 100 + b'"}', 2, False),
        (b'{"text": "a \\" [[[[[[", "x": [[[]]]}', 4, False),
        (b'{"text": "a \\" [[[[[[", "x": [[[]]]}', 3, True),
        (b'{"text": "\\\\", "x": [[[[]]]]}', 3, True),
        (b"", 1, False),
    ],
)
def test_depth_is_counted_outside_strings(body: bytes, limit: int, too_deep: bool) -> None:
    assert json_depth_exceeds(body, limit) is too_deep
