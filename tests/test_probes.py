"""What a load balancer and an orchestrator see: `/readyz` (this web process can serve)
and `/healthz` (the worker), on a fresh deploy and after."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.monitor import save_task
from django_q.scheduler import scheduler

from reminders_app import runs
from reminders_app.schedule import JOB_FUNC

pytestmark = pytest.mark.django_db


def this_hour():
    """The slot that began this hour (minute 0, as the schedule's every slot)."""
    return timezone.now().replace(minute=0, second=0, microsecond=0)


def health(client, status):
    response = client.get("/healthz")
    assert response.status_code == status, response.json()
    return response.json()


def test_a_fresh_deploy_is_starting_not_failing(client, hourly_schedule):
    """`migrate` made the schedule; no cluster has taken its first slot yet."""
    facts = health(client, 200)

    assert (facts["status"], facts["healthy"], facts["problems"]) == ("starting", True, [])
    assert facts["last_finished"] is None


# django-q2's scheduler closes the connection it finds: a transaction of its own.
@pytest.mark.django_db(transaction=True)
def test_starting_lasts_while_the_first_task_waits_and_runs(client, hourly_schedule):
    hourly_schedule.next_run = this_hour()  # due now
    hourly_schedule.save()
    scheduler(broker=get_broker())  # queues the slot's task, as a cluster's scheduler does
    hourly_schedule.refresh_from_db()
    assert hourly_schedule.task and hourly_schedule.next_run > timezone.now()

    assert health(client, 200)["status"] == "starting"  # queued
    now = timezone.now()
    run = runs.start_run(trigger="schedule", window_start=now, window_end=now, scheduled_for=now)
    assert health(client, 200)["status"] == "starting"  # running
    runs.finish_run(run, status="succeeded")

    assert health(client, 200)["status"] == "healthy"


# django-q2's scheduler closes the connection it finds: a transaction of its own.
@pytest.mark.django_db(transaction=True)
def test_a_first_task_that_ended_without_a_run_is_unhealthy(client, hourly_schedule):
    hourly_schedule.next_run = this_hour()  # due now
    hourly_schedule.save()
    scheduler(broker=get_broker())
    hourly_schedule.refresh_from_db()
    # The cluster records the task as failed: the job raised before recording a run.
    now = timezone.now()
    save_task(
        {
            "id": hourly_schedule.task,
            "name": "first-slot",
            "func": JOB_FUNC,
            "args": (),
            "kwargs": {},
            "started": now,
            "stopped": now,
            "result": "OperationalError",
            "success": False,
            "group": None,
            "attempt_count": 1,
        },
        get_broker(),
    )

    facts = health(client, 503)

    assert (facts["status"], facts["healthy"]) == ("unhealthy", False)
    assert facts["problems"] == ["no run has succeeded yet"]


def test_a_schedule_overdue_before_any_run_is_unhealthy(client, hourly_schedule):
    hourly_schedule.next_run = this_hour() - timedelta(hours=1)
    hourly_schedule.save()

    facts = health(client, 503)

    assert facts["status"] == "unhealthy"
    assert "no cluster has run it" in facts["problems"][0]
    assert facts["problems"][1:] == ["no run has succeeded yet"]


def test_a_503_is_one_warning_line(client, hourly_schedule, caplog):
    hourly_schedule.delete()

    with caplog.at_level(logging.INFO):
        health(client, 503)

    (line,) = [r for r in caplog.records if r.name == "django.request"]
    assert (line.levelname, line.getMessage()) == ("WARNING", "Service Unavailable: /healthz")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_other_server_errors_stay_errors(client, caplog):
    """Only the probes' 503 is lowered: a 500 elsewhere still pages someone."""
    logger = logging.getLogger("django.request")
    record = logger.makeRecord(
        logger.name, logging.ERROR, __file__, 0, "Internal Server Error: %s", ("/x",), None
    )
    record.status_code, record.request = 503, client.get("/admin/login/").wsgi_request

    logger.handle(record)

    assert record.levelname == "ERROR"


def test_readyz_answers_200_while_the_database_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"ready": True}
    assert client.post("/readyz").status_code == 405


def test_the_probes_are_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code in {200, 503}
    assert client.get("/admin/").status_code == 301
