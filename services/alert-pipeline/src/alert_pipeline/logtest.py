"""utm-logtest: what the pipeline makes of raw UTM log lines, as ``wazuh-logtest`` is for Wazuh.

    scripts/utm-logtest < lines.log
    scripts/utm-logtest --sender 192.0.2.10 fortigate.log sophos.log

Each input line (standard input, or the files named) gives one JSON object on standard output: the
vendor, format and unit identity decoded, the category code and its Japanese name, the severity
(0 = no alert, 1–3 = ★☆☆–★★★), the ID of the rule that decided, and the decoded fields — or
``{"rejected": "<reason>"}``. It runs the pipeline's own compiled core (decoders and rules); no
server is needed.
"""

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from alert_pipeline.classifier import Classifier
from alert_pipeline.decoders import DecodeError, from_core

BRIEF = ("vendor", "unit", "category", "category_ja", "severity", "rule_id")


def explain(raw: bytes, classifier: Classifier, *, sender: str | None = None) -> dict[str, Any]:
    """The logtest object of one raw line."""
    try:
        event = from_core(classifier.engine.decode(raw, sender or ""))
    except DecodeError as exc:
        return {"rejected": exc.reason}
    outcome = classifier.classify(event)
    return {
        "vendor": event.vendor,
        "format": event.format,
        "unit": {"serial": event.serial, "device_name": event.device_name, "sender": event.sender},
        "category": outcome.category.key,
        "category_ja": outcome.category.name,
        "severity": outcome.severity,
        "rule_id": outcome.rule_id,
        "rule": classifier.rule(outcome.rule_id).description,
        "occurred_at": event.occurred_at.isoformat(),
        "kind": event.kind,
        "subtype": event.subtype,
        "action": event.action,
        "level": event.level,
        "signature": event.signature,
        "group": event.group,
        "src_ip": event.src_ip,
        "dst_ip": event.dst_ip,
        "url": event.url,
        "user": event.user,
        "fields": event.fields,
    }


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    for line in stream:
        yield line.rstrip(b"\r\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="utm-logtest", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="files of raw lines (default: standard input)")
    parser.add_argument(
        "--sender", help="the sending host of bare syslog lines (as the collector records it)"
    )
    parser.add_argument("--rules", type=Path, help="a rules file instead of the packaged rules.toml")
    parser.add_argument(
        "--brief", action="store_true", help="only the unit, category, severity and rule (no decoded fields)"
    )
    args = parser.parse_args(argv)
    classifier = Classifier.load(args.rules)
    out = sys.stdout
    sources: list[BinaryIO] = [sys.stdin.buffer] if not args.files else []
    try:
        for path in args.files:
            sources.append(path.open("rb"))
    except OSError as exc:
        parser.error(f"cannot read {exc.filename}: {exc.strerror}")
    for source in sources:
        with source:
            for raw in _lines(source):
                result = explain(raw, classifier, sender=args.sender)
                if args.brief and "rejected" not in result:
                    result = {k: result[k] for k in BRIEF}
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
