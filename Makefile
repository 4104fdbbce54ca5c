# `make demo` and `make test` are the two commands in README.md; the rest are in its table.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when the lock changes.
STAMP := $(VENV)/.installed
# Three hashed locks pin every package, transitive ones included, with the hashes of
# their files (docs/dependencies.md). uv makes them: edit requirements.txt,
# requirements-dev.txt or requirements-django6.txt, then `make lock`.
#   requirements.lock          development and tests: requirements-dev.txt (which includes
#                              requirements.txt), Python 3.11, Django 5.2 (`make install`)
#   requirements-deploy.lock   runtime alone: requirements.txt, Python 3.11 (deploys)
#   requirements-django6.lock  development and tests on Python 3.13 with Django 6.1
#                              (requirements-django6.txt's pins win; `make test-django6`)
# Pins already in requirements.lock are kept; LOCK_ARGS="--upgrade" (or
# "--upgrade-package NAME") moves them. The other two start from its pins, so they hold
# the same versions wherever those resolve.
LOCKS := requirements.lock requirements-deploy.lock requirements-django6.lock
UV_COMPILE = $(BIN)/uv pip compile --generate-hashes --custom-compile-command "make lock" --quiet

# $(1): the folder the three locks are written to (the project, or check-lock's scratch
# copy), which holds requirements.lock already.
define write_locks
	$(UV_COMPILE) requirements-dev.txt --python-version 3.11 -o $(1)/requirements.lock $(LOCK_ARGS)
	cp $(1)/requirements.lock $(1)/requirements-deploy.lock
	$(UV_COMPILE) requirements.txt --python-version 3.11 -o $(1)/requirements-deploy.lock
	cp $(1)/requirements.lock $(1)/requirements-django6.lock
	$(UV_COMPILE) requirements-dev.txt --override requirements-django6.txt --python-version 3.13 \
		-o $(1)/requirements-django6.lock
endef

.PHONY: install lock check-lock demo demo-mail test test-psycopg2 test-django6 lint worker serve bench bench-email bench-admin bench-scale clean

# Development targets run in debug mode (the settings' default is production); an
# explicit DJANGO_DEBUG in the environment wins.
demo demo-mail worker test test-psycopg2 bench bench-email bench-admin bench-scale: export DJANGO_DEBUG ?= true

$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $@

install: $(STAMP)

# Regenerate the three locks after editing a requirements file.
lock: $(STAMP)
	$(call write_locks,.)

# Fails when a lock does not match the requirement files (CI runs it).
check-lock: $(STAMP)
	rm -rf $(VENV)/lock-check && mkdir $(VENV)/lock-check
	cp requirements.lock $(VENV)/lock-check/
	$(call write_locks,$(VENV)/lock-check)
	@for lock in $(LOCKS); do \
		diff -u $$lock $(VENV)/lock-check/$$lock || \
			{ echo "$$lock is stale: run make lock" >&2; exit 1; }; \
	done

demo: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py send_reminders

# The mails the demo sends, printed by Django's console backend (docs/email.md, "See it locally"), from
# a demo database of its own so that it works before or after `make demo`.
demo-mail: export DATABASE_URL = sqlite:///$(CURDIR)/demo-mail.sqlite3
demo-mail: export REMINDER_CHANNEL = reminders_app.channels.EmailChannel
demo-mail: export EMAIL_BACKEND = django.core.mail.backends.console.EmailBackend
demo-mail: export REMINDER_DELIVERY_CONCURRENCY = 1
demo-mail: $(STAMP)
	rm -f demo-mail.sqlite3
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py send_reminders

# The django-q2 cluster that runs the hourly schedule (docs/operations.md, "Running the worker").
# Ctrl-C or SIGTERM stops it within seconds: a reminder run in hand stops and is queued again.
worker: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py qcluster

# The web process, in production mode (docs/deploy.md): static files, schema, then
# gunicorn on 127.0.0.1:8000 (0.0.0.0:$$PORT when PORT is set) with $$WEB_CONCURRENCY
# workers (2 unless set); both variables are gunicorn's own. tasksite/gunicorn.conf.py
# makes gunicorn's own lines JSON, as the systemd unit does.
serve: export WEB_CONCURRENCY ?= 2
serve: $(STAMP)
	$(BIN)/python manage.py collectstatic --no-input -v0
	$(BIN)/python manage.py migrate --no-input
	exec $(BIN)/gunicorn -c tasksite/gunicorn.conf.py tasksite.wsgi

test: $(STAMP)
	$(BIN)/python -m pytest

# The suite on Django 6.1 and Python 3.13 in a Debian 13 root (.ci/django6; made once,
# kept in /var/cache): on SQLite, then the mail, claim and concurrency tests on
# $$DATABASE_URL when it names PostgreSQL. Needs root, as CI has. TESTS="tests/x.py -x"
# runs those alone, on $$DATABASE_URL (SQLite when unset).
test-django6:
	.ci/django6 $(TESTS)

# The tests of the claim path on PostgreSQL once more on psycopg2 instead of psycopg 3
# (tests/without_psycopg3 hides psycopg 3, as an install without it would); CI runs it:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/reminders make test-psycopg2
# It fails, rather than skips, on SQLite or when psycopg 3 is still what Django uses.
PSYCOPG2_TESTS = tests/test_claims.py tests/test_jobs.py tests/test_concurrency.py \
	tests/test_shapes.py tests/test_retries.py tests/test_unreachable_database.py \
	"tests/test_faults.py::test_a_run_whose_connection_is_cut_stops_with_one_line_and_keeps_its_work[reminders_app.channels.EventChannel]"
test-psycopg2: export PYTHONPATH := $(CURDIR)/tests/without_psycopg3
test-psycopg2: export REQUIRE_POSTGRES = 1
test-psycopg2: export REQUIRE_PSYCOPG2 = 1
test-psycopg2: $(STAMP)
	$(BIN)/python -m pytest $(PSYCOPG2_TESTS)

# The reminder job against its set-based bound, on PostgreSQL only (docs/performance.md):
# this project's tasks, then a date-only task model with two assignees per task (the
# dated host's chores, bench/chores_settings.py) in a database of its own, named after
# DATABASE_URL's plus _chores (created and migrated when missing):
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench make bench
# Flags go in BENCH_ARGS, e.g. BENCH_ARGS="--quick", "--shape chores" or
# "--tasks 110000 --due 10000 --no-scaling". A database holding anything but the
# benchmark's own data is refused without --reset.
bench: $(STAMP)
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

# Email delivery against an aiosmtpd sink with 20 ms per message, and against plain
# smtplib with as many connections (docs/performance.md, "Email"); PostgreSQL, like bench:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench make bench-email
# Flags go in BENCH_ARGS, e.g. BENCH_ARGS="--due 5000 --delay 0.05".
bench-email: $(STAMP)
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python bench/run_bench_email.py $(BENCH_ARGS)

# Admin pages, /healthz and /metrics at 1 M reminders and 10,000 runs, PostgreSQL only
# (docs/performance.md, "The admin, /healthz and /metrics at a million reminders"): seeds once, then prints each page's time and queries.
#   createdb -h 127.0.0.1 -U postgres bench_admin
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_admin make bench-admin
bench-admin: $(STAMP)
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python bench/run_bench_admin.py $(BENCH_ARGS)

# Scale-out against an aiosmtpd relay answering in 100 ms, 8 connections per process
# (docs/performance.md): one process, four on one window, one run in four parts on two
# clusters sharing Redis; then the event channel, one process and --workers 4.
# PostgreSQL and a Redis server:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench make bench-scale \
#       BENCH_ARGS="--redis redis://127.0.0.1:6379/0"
bench-scale: $(STAMP)
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python bench/run_bench_scale.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) db.sqlite3 demo-mail.sqlite3 test-artifacts
