"""The one key=value tokenizer: quoting, escapes, header words inside values, duplicate keys."""

import pytest

from alert_pipeline.decoders import DecodeError
from utm_core import tokenize


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param('a=1 b="two words" c=', {"a": "1", "b": "two words", "c": ""}, id="bare-quoted-empty"),
        pytest.param('ua="Mozilla/5.0 tz=+0100"', {"ua": "Mozilla/5.0 tz=+0100"}, id="tz-inside-quotes"),
        pytest.param(
            'x="a devid=EVIL b" devid="FGT1"', {"x": "a devid=EVIL b", "devid": "FGT1"}, id="devid-inside"
        ),
        pytest.param(
            'msg="type=utm subtype=virus" type="traffic"',
            {"msg": "type=utm subtype=virus", "type": "traffic"},
            id="type-inside",
        ),
        pytest.param(r'msg="say \"hi\" now" n=1', {"msg": 'say "hi" now', "n": "1"}, id="escaped-quotes"),
        pytest.param(r'p="C:\\temp\\x" q=2', {"p": "C:\\temp\\x", "q": "2"}, id="escaped-backslashes"),
        pytest.param(
            r'msg="ends with backslash \\" n=1',
            {"msg": "ends with backslash \\", "n": "1"},
            id="trailing-backslash",
        ),
        pytest.param("url=/a?b=c&d=e", {"url": "/a?b=c&d=e"}, id="equals-in-bare-value"),
        pytest.param('  a=1\t b="x"  ', {"a": "1", "b": "x"}, id="surrounding-space"),
        pytest.param("", {}, id="empty"),
        pytest.param("a=1" + " " * 100_000, {"a": "1"}, id="long-trailing-space"),
    ],
)
def test_tokenizes(line: str, expected: dict[str, str]) -> None:
    assert tokenize(line) == (expected, 0)


def test_duplicate_keys_first_occurrence_wins_and_is_counted() -> None:
    fields, duplicates = tokenize(
        'devid="A" subtype="ips" action="dropped" subtype="virus" action="passthrough" devid="B"'
    )
    assert fields == {"devid": "A", "subtype": "ips", "action": "dropped"}
    assert duplicates == 3


def test_duplicate_keys_with_escapes_first_occurrence_wins() -> None:
    fields, duplicates = tokenize(r'msg="a \"b\"" msg="second"')
    assert (fields, duplicates) == ({"msg": 'a "b"'}, 1)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param('a=1 b="open', "unterminated quoted value", id="open-quote"),
        pytest.param(r'a="x\" b=1', "unterminated quoted value", id="escaped-closing-quote"),
        pytest.param('a="x"y b=1', "no space after the value", id="text-after-quote"),
        pytest.param('a=x"y', "no space after the value", id="quote-in-bare"),
        pytest.param("just words", "not a key=value pair", id="words"),
        pytest.param("a=1 =2", "not a key=value pair", id="no-key"),
        pytest.param("1a=1", "not a key=value pair", id="key-starts-with-digit"),
        pytest.param("a=1 " * 600, "more than 512 fields", id="too-many"),
    ],
)
def test_rejects(line: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        tokenize(line)
