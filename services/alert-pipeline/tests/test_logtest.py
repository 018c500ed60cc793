"""scripts/utm-logtest: one JSON object per input line, from standard input or files."""

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "utm-logtest"

FORTIGATE = (
    b'date=2026-11-30 time=10:15:00 devname="FGT60F-Tokyo" devid="FGT60FTK2209X001" logid="0419016384" '
    b'type="utm" subtype="ips" level="alert" severity="critical" action="dropped" attack="X.RCE"'
)
DNS_QUERY = (
    b'date=2026-11-30 time=10:15:00 devname="FGT60F-Tokyo" logid="1501054400" type="utm" subtype="dns" '
    b'eventtype="dns-query" level="information" action="pass" qname="www.example.jp"'
)
NO_FORMAT = {"rejected": "no known format (neither JSON, CEF, PAN-OS CSV nor key=value)"}


def _run(*args: str, stdin: bytes = b"") -> list[dict[str, object]]:
    done = subprocess.run([str(SCRIPT), *args], input=stdin, capture_output=True, check=True, timeout=60)
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def test_reads_standard_input_one_object_per_line() -> None:
    lines = FORTIGATE + b"\n" + DNS_QUERY + b"\nnot a log\n\xff\xfe\n"
    results = _run("--sender", "192.0.2.10", stdin=lines)
    assert len(results) == 4
    threat, query, junk, binary = results
    assert (threat["vendor"], threat["format"]) == ("fortinet", "fortigate-kv")
    assert threat["unit"] == {
        "serial": "FGT60FTK2209X001",
        "device_name": "FGT60F-Tokyo",
        "sender": "192.0.2.10",
    }
    assert (threat["category"], threat["category_ja"], threat["severity"], threat["rule_id"]) == (
        "ips",
        "不正侵入防御(IPS)",
        3,
        100140,
    )
    assert threat["fields"]["attack"] == "X.RCE"  # type: ignore[index]
    assert (query["category"], query["severity"], query["rule_id"]) == ("dns-filter", 0, 100161)
    assert query["unit"] == {"serial": "", "device_name": "FGT60F-Tokyo", "sender": "192.0.2.10"}
    assert junk == NO_FORMAT
    assert binary == NO_FORMAT


def test_reads_files_named_as_arguments(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(FORTIGATE + b"\n")
    second.write_bytes(b"CEF:0|Acme|NGFW|9|1|Trojan|8|rt=1796001300000 deviceExternalId=A1 cat=Malware\n")
    results = _run("--brief", str(first), str(second))
    assert [r["rule_id"] for r in results] == [100140, 100510]
    assert "fields" not in results[1]
