"""formats.toml is data: a new log subtype is mapped by editing it, and a broken file is refused clearly."""

import pytest

import utm_core
from alert_pipeline.core import packaged_formats, packaged_rules

LINE = (
    b'devid="FGT60FTK2209X009" eventtime=1764465300 type="utm" subtype="casb" level="warning" '
    b'action="block" saasapp="Dropbox" saasname="file-upload" msg="CASB blocked an upload"'
)


def test_an_unknown_subtype_falls_to_the_generic_utm_map() -> None:
    event = utm_core.Engine(packaged_rules(), packaged_formats()).decode(LINE)
    assert (event["kind"], event["subtype"], event["signature"], event["group"]) == ("utm", "casb", "", "")


def test_a_new_subtype_is_mapped_by_the_formats_file_alone() -> None:
    extra = """
[[fortigate.logs]]
when = { "$kind" = ["utm"], "$subtype" = ["casb"] }
set = { signature = ["saasapp"], group = ["saasname"] }
"""
    # Entries are tried in order: the new one goes before the generic utm entry.
    formats = packaged_formats().replace(
        "[[fortigate.logs]]\n# Any other UTM subtype.",
        extra + "\n[[fortigate.logs]]\n# Any other UTM subtype.",
    )
    assert formats != packaged_formats()
    engine = utm_core.Engine(packaged_rules(), formats)
    event = engine.decode(LINE)
    assert (event["signature"], event["group"], event["action"], event["message"]) == (
        "Dropbox",
        "file-upload",
        "block",
        "CASB blocked an upload",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[fortigate.event]", "[fortigate.evnt]"), "fortigate.event"),
        (('kind = ["type"]', 'knd = ["type"]'), "unknown attribute"),
        (('url = ["hostname+url", "url", "hostname"]', 'url = ["$nothing"]'), "unknown attribute"),
        (("[panos.types.threat]\nmin_fields = 35", "[panos.types.threat]\nmin_fields = 0"), "min_fields"),
        (("vendor = ", "vendor == "), "not valid TOML"),
    ],
)
def test_a_broken_formats_file_is_refused_with_a_clear_message(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in packaged_formats()
    with pytest.raises(ValueError, match=message):
        utm_core.Engine(packaged_rules(), packaged_formats().replace(old, new, 1))


def test_a_rule_pattern_the_core_cannot_compile_is_refused() -> None:
    rules = packaged_rules().replace('match = "update"', 'match = "(?<=win)update"', 1)
    assert rules != packaged_rules()
    with pytest.raises(ValueError, match="pattern"):
        utm_core.Engine(rules, packaged_formats())
