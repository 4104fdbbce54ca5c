"""A run in parts as people see it: health, /metrics and the runs list count the run,
not its parts, and the run's page lists its parts."""

from datetime import timedelta

import pytest
from django.urls import reverse

from reminders_app.health import check_health
from reminders_app.metrics import exposition
from tests.factories import ReminderRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_in_parts():
    run = ReminderRunFactory(sent=30, selected=30)
    for number, sent in enumerate([10, 20]):
        ReminderRunFactory(
            parent=run,
            started_at=run.started_at + timedelta(seconds=number + 1),
            sent=sent,
            selected=sent,
            worker=f"host-{number}:{1000 + number}",
        )
    return run


def test_health_and_metrics_count_the_run_not_its_parts(run_in_parts, hourly_schedule):
    health = check_health()

    assert health.last_finished == health.last_succeeded == run_in_parts
    metrics = exposition().decode()
    assert 'reminder_runs_total{status="succeeded"} 1.0' in metrics
    assert "reminders_sent_total 30.0" in metrics


def test_the_runs_list_shows_the_run_and_its_page_its_parts(admin_client, run_in_parts):
    listed = admin_client.get(reverse("admin:reminders_app_reminderrun_changelist"))
    page = admin_client.get(
        reverse("admin:reminders_app_reminderrun_change", args=[run_in_parts.pk])
    )

    assert listed.context["cl"].result_count == 1
    assert [run.pk for run in listed.context["cl"].result_list] == [run_in_parts.pk]
    html = page.content.decode()
    assert "host-0:1000" in html and "host-1:1001" in html


def test_a_run_in_one_process_has_no_parts_table(admin_client, run_in_parts):
    single = ReminderRunFactory(sent=5, selected=5)

    pages = {
        run.pk: admin_client.get(reverse("admin:reminders_app_reminderrun_change", args=[run.pk]))
        for run in (single, run_in_parts)
    }

    tables = {
        pk: [inline.opts.verbose_name_plural for inline in page.context["inline_admin_formsets"]]
        for pk, page in pages.items()
    }
    assert tables == {single.pk: [], run_in_parts.pk: ["parts"]}
    assert 'class="inline-heading"' not in pages[single.pk].content.decode()
