# `make demo` and `make test` are the two commands in README.md; the rest are in its table.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when the lock changes.
STAMP := $(VENV)/.installed
# requirements.lock pins every package, transitive ones included, with hashes. It is
# made by uv from requirements-dev.txt (which includes requirements.txt): edit those,
# then `make lock`. Existing pins are kept; LOCK_ARGS="--upgrade" (or
# "--upgrade-package NAME") moves them.
LOCK_COMPILE = $(BIN)/uv pip compile requirements-dev.txt --generate-hashes \
	--python-version 3.11 --custom-compile-command "make lock" --quiet $(LOCK_ARGS)

.PHONY: install lock check-lock demo demo-mail test lint worker serve bench bench-email bench-admin bench-scale clean

# Development targets run in debug mode (the settings' default is production); an
# explicit DJANGO_DEBUG in the environment wins.
demo demo-mail worker test bench bench-email bench-admin bench-scale: export DJANGO_DEBUG ?= true

$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $@

install: $(STAMP)

# Regenerate requirements.lock after editing requirements.txt or requirements-dev.txt.
lock: $(STAMP)
	$(LOCK_COMPILE) -o requirements.lock

# Fails when requirements.lock does not match the requirement files (CI runs it).
check-lock: $(STAMP)
	cp requirements.lock $(VENV)/requirements.lock.check
	$(LOCK_COMPILE) -o $(VENV)/requirements.lock.check
	diff -u requirements.lock $(VENV)/requirements.lock.check || \
		{ echo "requirements.lock is stale: run make lock" >&2; exit 1; }

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

# The reminder job against its set-based bound, on PostgreSQL only (docs/performance.md):
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench make bench
# Flags go in BENCH_ARGS, e.g. BENCH_ARGS="--quick" or "--tasks 110000 --due 10000 --no-scaling".
# A database holding anything but the benchmark's own data is refused without --reset.
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
