"""`/healthz` and `/metrics`: what a load balancer and Prometheus see."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from reminders_app.models import ReminderLog, ReminderRun
from tests.factories import ReminderLogFactory, ReminderRunFactory, TaskFactory, UserFactory
from tests.queries import writes

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
TOKEN = "s3cret-metrics-token"


@pytest.fixture
def named_owner():
    return UserFactory(
        username="alice.owner", first_name="Alice", last_name="Owner", email="alice@example.com"
    )


@pytest.fixture
def healthy(hourly_schedule, named_owner):
    """A live schedule and a run that just succeeded, with a reminder of a named owner."""
    run = ReminderRunFactory(started_at=timezone.now() - timedelta(minutes=5), sent=1)
    ReminderLogFactory(run=run, task__owner=named_owner, task__title="Secret launch plan")
    return run


# --- /healthz ---------------------------------------------------------------------


def test_healthz_answers_200_with_the_facts_when_healthy(client, healthy):
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    facts = response.json()
    assert facts["healthy"] is True and facts["problems"] == []
    assert facts["last_finished"]["run_id"] == str(healthy.pk)
    assert facts["last_finished"]["sent"] == 1
    assert facts["schedule"]["name"] == "send-due-reminders"
    assert writes(captured) == []


def test_healthz_answers_503_when_no_run_succeeded(client, hourly_schedule):
    ReminderRunFactory(
        started_at=timezone.now() - H, status=ReminderRun.Status.FAILED, error="OperationalError"
    )

    with CaptureQueriesContext(connection) as captured:
        response = client.get("/healthz")

    assert response.status_code == 503
    facts = response.json()
    assert facts["healthy"] is False
    assert "no run has succeeded yet" in facts["problems"]
    assert facts["last_finished"]["error"] == "OperationalError"
    assert writes(captured) == []


def test_healthz_answers_503_without_a_schedule(client, hourly_schedule):
    ReminderRunFactory()
    hourly_schedule.delete()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert any("missing" in problem for problem in response.json()["problems"])


def test_healthz_names_no_person_task_or_host(client, healthy, named_owner):
    ReminderLogFactory(
        task__owner=named_owner,
        task__title="Another secret",
        status=ReminderLog.Status.FAILED,
        sent_at=None,
        attempts=5,
    )

    body = client.get("/healthz").text

    for private in ["alice", "Alice", "Owner", "example.com", "Secret", "secret", "hostname"]:
        assert private not in body


def test_healthz_needs_no_login_and_refuses_writes(client, healthy):
    assert client.get("/healthz").status_code == 200
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


# --- /metrics ---------------------------------------------------------------------


def scrape(client, **headers) -> dict:
    """{(sample name, labels as a tuple): value} from /metrics."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@pytest.fixture
def history(now):
    """Runs with known counts; tasks due now, one of them already reminded."""
    start = timezone.now() - 3 * H
    ReminderRunFactory(started_at=start, sent=5, failed=2, suppressed=1)
    last_success = ReminderRunFactory(started_at=start + H, sent=3, suppressed=2)
    ReminderRunFactory(started_at=start + 2 * H, status=ReminderRun.Status.INTERRUPTED, sent=1)
    last = ReminderRunFactory(
        started_at=start + 150 * timedelta(minutes=1),
        finished_at=start + 150 * timedelta(minutes=1) + timedelta(seconds=7.5),
        scheduled_for=start + 150 * timedelta(minutes=1) - timedelta(seconds=12),
        lag=timedelta(seconds=12),
        status=ReminderRun.Status.FAILED,
        failed=4,
    )
    ReminderRunFactory(status=ReminderRun.Status.RUNNING, finished_at=None, sent=2)
    due = [TaskFactory(due_at=timezone.now() + n * H) for n in (1, 2, 3)]
    ReminderLogFactory(task=due[0], run=last_success)  # reminded already
    TaskFactory(due_at=timezone.now() + 48 * H)  # beyond the window
    TaskFactory(due_at=timezone.now() + H, completed_at=timezone.now())  # done
    return {"last_success": last_success, "last": last}


def test_metrics_match_the_database(client, settings, history):
    settings.METRICS_TOKEN = TOKEN

    with CaptureQueriesContext(connection) as captured:
        samples = scrape(client, Authorization=f"Bearer {TOKEN}")

    # the sent reminder's own run (ReminderLogFactory) sent 0: the counts are the runs'
    assert samples["reminders_sent_total", ()] == 5 + 3 + 1 + 2
    assert samples["reminders_failed_total", ()] == 2 + 4
    assert samples["reminders_suppressed_total", ()] == 1 + 2
    runs = {
        dict(labels)["status"]: value
        for (name, labels), value in samples.items()
        if name == "reminder_runs_total"
    }
    assert runs == {"succeeded": 2, "failed": 1, "interrupted": 1, "running": 1, "abandoned": 0}
    last_success = history["last_success"]
    assert samples["reminder_last_success_timestamp_seconds", ()] == pytest.approx(
        last_success.finished_at.timestamp()
    )
    assert samples["reminder_last_run_duration_seconds", ()] == pytest.approx(7.5)
    assert samples["reminder_last_run_lag_seconds", ()] == pytest.approx(12)
    assert samples["reminders_due_unsent", ()] == 2
    assert writes(captured) == []


def test_metrics_before_any_run(client, settings):
    settings.DEBUG = True
    settings.METRICS_TOKEN = ""

    samples = scrape(client)

    assert samples["reminders_sent_total", ()] == 0
    assert samples["reminder_runs_total", (("status", "succeeded"),)] == 0
    # nothing measured yet: no sample rather than a made-up 0
    assert ("reminder_last_success_timestamp_seconds", ()) not in samples
    assert ("reminder_last_run_duration_seconds", ()) not in samples


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN],
)
def test_metrics_refuse_a_missing_or_wrong_token(client, settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    settings.DEBUG = True  # a token is required even in debug mode once it is set
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "reminders_sent" not in response.text


def test_metrics_accept_the_right_token(client, settings):
    settings.METRICS_TOKEN = TOKEN

    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_metrics_without_a_token_answer_only_in_debug_mode(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert "METRICS_TOKEN" in refused.text

    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200
