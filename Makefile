# Developer entry points. The work is done by scripts/ (see the comments there);
# local state (server data, logs, PIDs) lives in .state/.
#
#   make run          install what is missing, start Kafka, MongoDB, SMTP, the syslog collector and every service
#   make stop         stop everything `make run` started
#   make status       what is running
#   make logs         last lines of every log;  make logs S=identity [N=200]
#   make test         lint, then the test suite against its own servers (.state/test, other ports)
#   make lint         ruff check, ruff format --check, mypy
#   make bench        the pipeline benchmark on its own servers (.state/bench); BENCH_ARGS=--no-notifier
#   make profile      the benchmark with py-spy on the pipeline: benchmarks/profiles/pipeline.txt
#   make bench-reports  report, comparison and PDF latency over 100 companies' month of aggregates
#   make faults       kill and restart Kafka, MongoDB, SMTP, the collector and the services under a steady
#                     stream: lost, duplicated, recovery time (own servers, .state/faults); FAULTS_ARGS=--only smtp
#   make load         50 portal users (locust) while the pipeline ingests 2,000 events/s; LOAD_ARGS=--duration 60
#   make mutation     mutation scores (mutmut) of identity's password, TOTP and lockout code and of
#                     the pipeline's classifier and parsing facade (MUTATION_ARGS=alert-pipeline: one)
#   make asyncapi     regenerate deploy/asyncapi/*.json from the code
#   make clean-state  stop everything and delete local data (keeps the helper venv)
#
# Servers given in the environment (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, SMTP_HOST)
# are used instead of starting local ones.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help deps deps-test run stop status logs test lint bench profile bench-reports faults load mutation asyncapi clean-state

S ?=
N ?= 50
PYTEST_ARGS ?=
BENCH_ARGS ?=
FAULTS_ARGS ?=
LOAD_ARGS ?=
MUTATION_ARGS ?=
MYPY_TARGETS ?= shared/src $(wildcard services/*/src)

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/deps.sh

deps-test:
	@scripts/deps.sh --test

# Idempotent: parts already running are left alone.
run: deps
	@scripts/infra.sh start
	@scripts/services.sh start
	@scripts/services.sh wait
	@echo
	@echo "Ready:"
	@scripts/services.sh urls
	@scripts/syslog.sh status | tail -n 1
	@echo
	@echo "Addresses for your shell: source .state/env   Logs: make logs [S=name]   Stop: make stop"

# Services first: they flush to Kafka/MongoDB while shutting down.
stop:
	@scripts/services.sh stop
	@scripts/infra.sh stop

status:
	@scripts/infra.sh status || true
	@scripts/services.sh status || true

logs:
ifeq ($(S),)
	@shopt -s nullglob; logs=(.state/logs/*.log); \
	if ((!$${#logs[@]})); then echo "no logs yet"; else tail -n $(N) "$${logs[@]}"; fi
else
	@tail -n $(N) .state/logs/$(S).log
endif

# Lint first: a style or type error fails the run as a failing test would.
test: deps-test lint
	@scripts/test.sh $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy $(MYPY_TARGETS)

bench: deps
	@scripts/bench.sh $(BENCH_ARGS)

profile: deps
	@benchmarks/profile.sh $(BENCH_ARGS)

bench-reports: deps
	@BENCH_SCRIPT=benchmarks/reports_bench.py scripts/bench.sh $(BENCH_ARGS)

# Not part of `make test`: about 15 minutes, with the durations of the scenarios.
faults: deps-test
	@scripts/faults.sh $(FAULTS_ARGS)

# Not part of `make test`: a few minutes on its own servers (.state/bench), figures on the last line.
load: deps
	@BENCH_SCRIPT=benchmarks/load.py scripts/bench.sh $(LOAD_ARGS)

# Not part of `make test`: mutants of the target modules only, each run against its own tests (-x).
mutation: deps-test
	@scripts/mutation.sh $(MUTATION_ARGS)

asyncapi:
	.venv/bin/python scripts/asyncapi.py

clean-state:
	-@scripts/services.sh stop
	-@scripts/infra.sh stop
	-@STATE_DIR=.state/test scripts/services.sh stop >/dev/null 2>&1
	-@STATE_DIR=.state/test scripts/infra.sh stop >/dev/null 2>&1
	@find .state -mindepth 1 -maxdepth 1 ! -name tools -exec rm -rf {} + 2>/dev/null || true
	@echo "local state deleted (.state/tools kept)"
