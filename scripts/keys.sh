#!/usr/bin/env bash
# Development keys, generated once per checkout under .state/keys/ (or $WATCH_KEYS_DIR): the Ed25519
# pair that signs and verifies access tokens and the AES key that encrypts TOTP secrets at rest.
# No key is kept in the repository; production takes them from its environment or secret files and
# refuses to start without them. `make run` (services.sh start) and `make test` (test.sh) call this.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ -x "$ROOT/.venv/bin/python" ]] || { echo "[keys] error: $ROOT/.venv missing: run scripts/deps.sh" >&2; exit 1; }
"$ROOT/.venv/bin/python" -m shared.keys "${WATCH_KEYS_DIR:-$ROOT/.state/keys}" >&2
