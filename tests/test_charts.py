"""reminders_app.charts: the admin's pictures of reminders and runs."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reminders_app import charts
from reminders_app.viewers import add_to_reminder_viewers
from tests.factories import ReminderRunFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
H = timedelta(hours=1)


def table_rows(html: str, chart_id: str) -> dict[str, list[str]]:
    """The chart's data table as {row label: [cells]}."""
    figure = html.split(f'id="{chart_id}"', 1)[1].split("</figure>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', figure)
    return {label: re.findall(r"<td>(.*?)</td>", cells) for label, cells in rows}


def test_reminders_per_hour_sums_the_runs_of_each_hour_by_outcome():
    ReminderRunFactory(started_at=NOW - 2 * H, sent=5, failed=1)
    ReminderRunFactory(started_at=NOW - 2 * H + timedelta(minutes=20), sent=2, suppressed=3)
    ReminderRunFactory(started_at=NOW - 30 * H, failed=4)
    ReminderRunFactory(started_at=NOW - 8 * 24 * H, sent=99)  # older than a week

    with CaptureQueriesContext(connection) as queries:
        html = charts.reminders_per_hour(now=NOW)

    assert len(queries) == 1
    assert table_rows(html, "chart-reminders-per-hour") == {
        "2026-03-09 06:00 UTC": ["0", "4", "0"],
        "2026-03-10 10:00 UTC": ["7", "1", "3"],
    }
    assert "7 sent, 5 failed, 3 suppressed in all" in html
    assert 'role="img"' in html and 'aria-labelledby="chart-reminders-per-hour-title' in html
    for legend in (">sent<", ">failed<", ">suppressed<"):
        assert legend in html
    assert ">Mar 04<" in html and ">Mar 10<" in html  # a label at each midnight


def test_run_times_show_the_last_finished_runs_oldest_first():
    ReminderRunFactory(started_at=NOW - 2 * H, lag=timedelta(seconds=12))
    ReminderRunFactory(started_at=NOW - H, finished_at=NOW - H + timedelta(seconds=30), lag=None)
    ReminderRunFactory(started_at=NOW, status="running", finished_at=None)

    with CaptureQueriesContext(connection) as queries:
        durations, lags = charts.run_times()

    assert len(queries) == 1
    assert list(table_rows(durations, "chart-run-durations").values()) == [["2"], ["30"]]
    assert list(table_rows(lags, "chart-run-lags").values()) == [["12"], ["0"]]
    assert "Duration of the last 2 runs" in durations
    assert "Lag of the last 2 runs" in lags


def y_ticks(html: str) -> list[str]:
    return re.findall(r'text-anchor="end" fill="#333333">([^<]+)<', html)


def x_labels(html: str) -> list[str]:
    return re.findall(r'text-anchor="middle" fill="#333333">([^<]+)<', html)


def test_one_long_lag_does_not_flatten_the_durations():
    for minutes in range(10):
        ReminderRunFactory(started_at=NOW - minutes * H, lag=timedelta(seconds=1))
    ReminderRunFactory(started_at=NOW + H, lag=timedelta(minutes=50))

    durations, lags = charts.run_times()

    # every run took 2 s: the duration axis ends near it, the lag axis near 50 min
    assert y_ticks(durations)[-1] == "2 s"
    assert y_ticks(lags)[-1] == "5,000 s"


def test_runs_close_together_are_told_apart_on_the_x_axis():
    # a burst of runs within one minute (Send now, a deploy), then the same an hour on
    for start in (NOW, NOW + H):
        for seconds in range(0, 40, 5):
            ReminderRunFactory(started_at=start + timedelta(seconds=seconds))

    durations, lags = charts.run_times()

    labels = x_labels(durations)
    assert len(labels) == 8 and len(set(labels)) == 8
    assert labels[:2] == ["10 12:30:00", "10 12:30:10"]
    assert x_labels(lags) == labels


def test_runs_an_hour_apart_are_labelled_by_the_minute():
    for hours in range(4):
        ReminderRunFactory(started_at=NOW + hours * H)

    durations, _ = charts.run_times()

    assert x_labels(durations) == ["10 12:30", "10 13:30", "10 14:30", "10 15:30"]


def test_a_run_page_shows_its_counts_as_a_chart(client):
    viewer = UserFactory(username="viewer")
    add_to_reminder_viewers(viewer)
    run = ReminderRunFactory(selected=10, sent=6, skipped=1, failed=2, suppressed=1)
    client.force_login(viewer)

    html = client.get(reverse("admin:reminders_app_reminderrun_change", args=[run.pk])).text

    assert "What this run did with the 10 reminders it selected" in html
    assert table_rows(html, "chart-run-counts") == {
        "sent": ["6"],
        "skipped": ["1"],
        "failed": ["2"],
        "released": ["0"],
        "suppressed": ["1"],
    }


def test_the_admin_home_shows_both_charts_in_a_fixed_number_of_queries(client):
    viewer = UserFactory(username="viewer")
    add_to_reminder_viewers(viewer)
    client.force_login(viewer)
    home = reverse("admin:index")
    client.get(home)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            html = client.get(home).text
        assert 'id="chart-reminders-per-hour"' in html and 'id="chart-run-durations"' in html
        return len(captured)

    ReminderRunFactory()
    few = queries()
    for n in range(60):
        ReminderRunFactory(started_at=datetime.now(UTC) - n * H, sent=n)
    assert queries() == few


def test_staff_who_may_not_view_runs_see_no_charts(client):
    clerk = UserFactory(username="clerk", is_staff=True)
    client.force_login(clerk)

    assert "<figure" not in client.get(reverse("admin:index")).text


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (0.03, 0.05), (3, 5), (7, 10), (100, 100), (101, 200)]
)
def test_axes_end_on_round_numbers(value, ceiling):
    assert charts.nice_ceiling(value) == pytest.approx(ceiling)
