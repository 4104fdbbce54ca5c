# `make demo` and `make test` are the two commands in README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when the requirement files change.
STAMP := $(VENV)/.installed

.PHONY: demo test lint worker bench bench-admin clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py send_reminders

# The django-q2 cluster that runs the hourly schedule (README "Running the worker").
# Ctrl-C or SIGTERM stops it after the job it is running.
worker: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py qcluster

test: $(STAMP)
	$(BIN)/python -m pytest

# The reminder job against its set-based bound, on PostgreSQL only (README, "Performance"):
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench make bench
# Flags go in BENCH_ARGS, e.g. BENCH_ARGS="--quick" or "--tasks 110000 --due 10000 --no-scaling".
# A database holding anything but the benchmark's own data is refused without --reset.
bench: $(STAMP)
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

# Admin pages, /healthz and /metrics at 1 M reminders and 10,000 runs, PostgreSQL only
# (README, "Performance"): seeds once, then prints each page's time and queries.
#   createdb -h 127.0.0.1 -U postgres bench_admin
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_admin make bench-admin
bench-admin: $(STAMP)
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python bench/run_bench_admin.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) db.sqlite3 test-artifacts
