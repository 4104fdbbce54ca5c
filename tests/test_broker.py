"""The broker away: Send now says so instead of a 500, and /healthz and
reminders_status are unhealthy, naming the broker and never its address or password.

The Redis broker with real processes (a cluster, gunicorn, the command) and a Redis
server of the test's own, stopped under them; the ORM broker in-process, its table
locked by another connection."""

import json
import shutil
import subprocess
import urllib.error
from urllib.parse import urlencode

import psycopg
import pytest
from django.db import connection
from django.urls import reverse

from tests.factories import UserFactory
from tests.gunicorn import csrf_token, fetch, gunicorn, log_in
from tests.processes import child_env, database_url, message_lines, run_manage, wait_for
from tests.smtp import free_port

PASSWORD = "s3cret-redis-password"
ADMIN_PASSWORD = "a-long-admin-password-1"
SEND_NOW = "/admin/reminders_app/reminderrun/send-now/"


@pytest.fixture
def redis_server():
    """A Redis server of this test's own, with a password, on a free port."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", PASSWORD]
        + ["--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    yield server, port
    server.terminate()
    server.wait()


def health(address: str) -> tuple[int, str]:
    """/healthz's status code and body."""
    try:
        with fetch(f"{address}/healthz") as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read().decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_redis_broker_away_is_named_by_send_now_healthz_and_reminders_status(
    clusters, redis_server, tmp_path
):
    server, port = redis_server
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    root.set_password(ADMIN_PASSWORD)
    root.save()
    env = child_env(Q_CLUSTER_REDIS=url)
    clusters.start(1, Q_CLUSTER_REDIS=url)
    clusters.wait_running()
    with gunicorn(env, tmp_path / "gunicorn.log") as address:
        opener, _, _ = log_in(address, "root", ADMIN_PASSWORD)
        wait_for(
            lambda: (
                "Yes, queue a run now" in fetch(address + SEND_NOW, opener=opener).read().decode()
            ),
            what="Send now to see the cluster",
        )
        assert "broker" not in health(address)[1]

        server.terminate()  # Redis goes away under the running cluster
        server.wait()
        status, body = health(address)
        page = fetch(address + SEND_NOW, opener=opener).read().decode()
        form = urlencode({"csrfmiddlewaretoken": csrf_token(page)}).encode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            fetch(address + SEND_NOW, opener=opener, data=form)
        answer = refused.value.read().decode()
        log = (tmp_path / "gunicorn.log").read_text()
    checked = run_manage("reminders_status", env=env)

    assert status == 503
    assert (
        "the Redis broker cannot be reached (ConnectionError): scheduled runs and Send now "
        "wait until it answers"
    ) in json.loads(body)["problems"]
    assert refused.value.code == 503
    assert "the Redis broker could not be reached (ConnectionError), so nothing was queued" in (
        answer
    )
    assert checked.returncode == 1
    (line,) = message_lines(checked.stderr)
    assert "the Redis broker cannot be reached (ConnectionError)" in line
    (logged,) = [json.loads(x) for x in log.splitlines() if '"send_now_not_queued"' in x]
    assert (logged["level"], logged["error"]) == ("WARNING", "ConnectionError")
    for text in (body, answer, line, log, checked.stdout):
        assert PASSWORD not in text and f":{port}" not in text
    assert "Traceback" not in log


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_send_now_says_so_when_the_orm_broker_cannot_queue(client, monkeypatch):
    """The queue's table locked by another connection past the lock timeout: one
    sentence, 503, nothing queued."""
    from django.contrib.auth.models import Permission
    from django_q.models import OrmQ

    monkeypatch.setattr("reminders_app.admin.send_now.running_clusters", lambda: ["a cluster"])
    sender = UserFactory(is_staff=True)
    sender.user_permissions.add(Permission.objects.get(codename="send_reminders_now"))
    client.force_login(sender)
    table = connection.ops.quote_name(OrmQ._meta.db_table)
    database = connection.ops.quote_name(connection.settings_dict["NAME"])
    # For the connection the broker opens itself (it closes Django's first).
    with psycopg.connect(database_url(), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {database} SET lock_timeout = '200ms'")
        try:
            with psycopg.connect(database_url()) as holder:  # commits, and unlocks, on exit
                holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                response = client.post(reverse("admin:reminders_app_reminderrun_send_now"))
        finally:
            admin.execute(f"ALTER DATABASE {database} RESET lock_timeout")

    assert response.status_code == 503
    assert (
        "the ORM broker (database &#x27;default&#x27;) could not be reached "
        "(OperationalError), so nothing was queued"
    ) in response.text
    assert not OrmQ.objects.exists()
