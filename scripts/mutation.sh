#!/usr/bin/env bash
# `make mutation`: mutation check (mutmut) of identity's password, TOTP and lockout code and of the
# alert pipeline's rule-table validation and parsing facade.
#
# For each service mutmut copies services/<name> into services/<name>/mutants/, changes the target
# modules (see [tool.mutmut] in services/<name>/pyproject.toml: identity's crypto, passwords, totp,
# two_step, throttle, login; alert-pipeline's classifier and parsing) one small change at a time, and
# runs that service's unit tests (none needs a server) against each change with -x; a change no test
# notices "survived". Run from the service's folder so that the mutated src/ is what the tests
# import. Then prints the share killed per module; fails if a module is below 80 %.
#
#   scripts/mutation.sh                       both services (results are cached in mutants/:
#                                             unchanged code is not rerun)
#   scripts/mutation.sh alert-pipeline        one service (identity or alert-pipeline)
#   scripts/mutation.sh --fresh [service]     forget earlier results first (after changing only
#                                             tests: a mutant is rerun only when its source changed)
#   MUTATION_CHILDREN=2                       parallel workers (default 1: the machine is shared)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ALL_SERVICES=(identity alert-pipeline)

fresh=0
if [[ "${1:-}" == "--fresh" ]]; then
  fresh=1
  shift
fi
if [[ $# -gt 0 ]]; then
  services=("$@")
else
  services=("${ALL_SERVICES[@]}")
fi

status=0
for name in "${services[@]}"; do
  service="$ROOT/services/$name"
  if [[ ! " ${ALL_SERVICES[*]} " == *" $name "* ]]; then
    echo "unknown service $name (expected one of: ${ALL_SERVICES[*]})" >&2
    exit 2
  fi
  if [[ $fresh == 1 ]]; then
    rm -rf "$service/mutants"
  fi
  echo "== $name"
  # The progress line is redrawn in place; keep only its end.
  (cd "$service" && "$ROOT/.venv/bin/mutmut" run --max-children "${MUTATION_CHILDREN:-1}") \
    | tr '\r' '\n' | tail -n 3
  "$ROOT/.venv/bin/python" "$ROOT/scripts/mutation_scores.py" "$service/mutants" || status=1
done
exit $status
