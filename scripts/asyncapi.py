"""Writes each service's AsyncAPI document into deploy/asyncapi/ (or checks they are current).

python scripts/asyncapi.py          regenerate
python scripts/asyncapi.py --check  exit 1 when a committed document is stale
"""

import argparse
import importlib
import json
import sys
from pathlib import Path

from faststream.specification import AsyncAPI

from shared.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "deploy" / "asyncapi"
SERVICES = {
    "signup": "signup",
    "identity": "identity",
    "device-registry": "device_registry",
    "alert-pipeline": "alert_pipeline",
    "notifier": "notifier",
    "support": "support_desk",
}  # the gateway uses no Kafka: it has no AsyncAPI document
# Topics a service reads outside its FastStream broker, so not among the document's channels.
OTHER_TOPICS = {
    "alert-pipeline": " It also reads utm-events (raw UTM records: bytes in any vendor format, or the"
    " syslog collector's JSON envelope) with a consumer of its own, committed after each batch.",
}


def render(service: str) -> str:
    """The AsyncAPI 3.0 document of ``service`` as stable, pretty JSON."""
    package = SERVICES[service]
    # The production address, so the document does not depend on the machine that wrote it.
    settings = importlib.import_module(f"{package}.settings").Settings(
        kafka=KafkaSettings(bootstrap_servers="kafka:9092")
    )
    app = importlib.import_module(f"{package}.main").create_app(settings)
    spec = AsyncAPI(
        app.state.broker,
        title=f"{service} events",
        version=app.version,
        description=f"Kafka topics the {service} service consumes and publishes."
        + OTHER_TOPICS.get(service, ""),
    ).to_specification()
    return json.dumps(spec.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False,
                      indent=2, sort_keys=True) + "\n"  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for service in SERVICES:
        path = OUT / f"{service}.json"
        document = render(service)
        if args.check:
            if not path.exists() or path.read_text() != document:
                stale.append(service)
        else:
            path.write_text(document)
    if stale:
        print(f"stale AsyncAPI documents: {', '.join(stale)}; run `make asyncapi`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
