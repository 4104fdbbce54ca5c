# `make demo` and `make test` are the two commands in README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when the requirement files change.
STAMP := $(VENV)/.installed

.PHONY: demo test lint worker serve bench clean

# Development targets run in debug mode (the settings' default is production); an
# explicit DJANGO_DEBUG in the environment wins.
demo worker test bench: export DJANGO_DEBUG ?= true

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

# The web process, in production mode (README "Deploying"): static files, schema, then
# gunicorn on 127.0.0.1:8000 (0.0.0.0:$$PORT when PORT is set) with $$WEB_CONCURRENCY
# workers (2 unless set); both variables are gunicorn's own.
serve: export WEB_CONCURRENCY ?= 2
serve: $(STAMP)
	$(BIN)/python manage.py collectstatic --no-input -v0
	$(BIN)/python manage.py migrate --no-input
	exec $(BIN)/gunicorn tasksite.wsgi --no-control-socket

test: $(STAMP)
	$(BIN)/python -m pytest

# The reminder job against its set-based bound, on PostgreSQL only (README, "Performance"):
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench make bench
# Flags go in BENCH_ARGS, e.g. BENCH_ARGS="--quick" or "--tasks 110000 --due 10000 --no-scaling".
# A database holding anything but the benchmark's own data is refused without --reset.
bench: $(STAMP)
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) db.sqlite3 test-artifacts
