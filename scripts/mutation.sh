#!/usr/bin/env bash
# `make mutation`: mutation check of identity's password, TOTP and lockout code (mutmut).
#
# mutmut copies services/identity into services/identity/mutants/, changes the target modules
# (crypto, passwords, totp, two_step, throttle, login; see [tool.mutmut] in
# services/identity/pyproject.toml) one small change at a time, and runs the identity unit tests
# against each change with -x; a change no test notices "survived". Run from the service's folder so
# that the mutated src/ is what the tests import. Then prints the share killed per module.
#
#   scripts/mutation.sh            run (results are cached in mutants/: unchanged code is not rerun)
#   scripts/mutation.sh --fresh    forget earlier results first
#   MUTATION_CHILDREN=2            parallel workers (default 1: the machine is shared)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICE="$ROOT/services/identity"

if [[ "${1:-}" == "--fresh" ]]; then
  rm -rf "$SERVICE/mutants"
fi
cd "$SERVICE"
# The progress line is redrawn in place; keep only its end.
"$ROOT/.venv/bin/mutmut" run --max-children "${MUTATION_CHILDREN:-1}" | tr '\r' '\n' | tail -n 3
"$ROOT/.venv/bin/python" "$ROOT/scripts/mutation_scores.py" "$SERVICE/mutants"
