"""Prometheus metrics, read from the database at scrape time.

A custom collector: each scrape runs a few aggregate queries over the runs' kept
totals (ReminderRun.sent/failed/suppressed), never a scan of the reminder log, so the
figures are the same whichever web process answers and however many workers run.
"""

from datetime import datetime

from django.db.models import Count, Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from reminders_app.models import ReminderRun
from reminders_app.plan import RunPlan
from reminders_app.selection import count_due, count_without_recipient

Status = ReminderRun.Status
# Runs, not their parts: a run in parts holds the sum of its parts' counts.
RUNS = ReminderRun.objects.filter(parent__isnull=True)


class ReminderCollector:
    """The reminder job's figures, computed in six queries per scrape."""

    def collect(self):
        yield from self._outcomes()
        yield self._runs_by_status()
        yield from self._last_runs()
        plan = RunPlan.build()
        yield GaugeMetricFamily(
            "reminders_due_unsent",
            "Reminders due now within the window and not yet sent or suppressed.",
            value=count_due(plan),
        )
        yield GaugeMetricFamily(
            "reminder_tasks_without_recipient",
            "Open tasks due within the window that name nobody to remind.",
            value=count_without_recipient(plan),
        )

    def _outcomes(self):
        totals = RUNS.aggregate(
            sent=Sum("sent", default=0),
            failed=Sum("failed", default=0),
            suppressed=Sum("suppressed", default=0),
        )
        # prometheus_client appends `_total` to counter names: reminders_sent_total.
        yield CounterMetricFamily(
            "reminders_sent", "Reminders delivered, over all runs.", value=totals["sent"]
        )
        yield CounterMetricFamily(
            "reminders_failed",
            "Failed delivery attempts, over all runs (a retried reminder counts each time).",
            value=totals["failed"],
        )
        yield CounterMetricFamily(
            "reminders_suppressed",
            "Reminders the channel chose not to deliver, over all runs.",
            value=totals["suppressed"],
        )

    def _runs_by_status(self):
        runs = CounterMetricFamily(
            "reminder_runs", "Runs of the reminder job by status.", labels=["status"]
        )
        counted = dict(
            RUNS.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
        )
        for status in Status.values:  # every status, 0 included, so rate() sees it start
            runs.add_metric([status], counted.get(status, 0))
        return runs

    def _last_runs(self):
        finished = RUNS.exclude(status=Status.RUNNING).order_by("-started_at")
        last_success = finished.filter(status=Status.SUCCEEDED).values("finished_at").first()
        last = finished.values("started_at", "finished_at", "lag").first()
        yield _gauge(
            "reminder_last_success_timestamp_seconds",
            "When the last successful run finished (Unix time).",
            last_success and _timestamp(last_success["finished_at"]),
        )
        yield _gauge(
            "reminder_last_run_duration_seconds",
            "How long the last finished run took.",
            last and (last["finished_at"] - last["started_at"]).total_seconds(),
        )
        yield _gauge(
            "reminder_last_run_lag_seconds",
            "How late the last finished run started after its scheduled slot (0 by hand).",
            last and (last["lag"].total_seconds() if last["lag"] is not None else 0.0),
        )


def _gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily:
    """A gauge with its sample, or without any when there is nothing to measure yet
    (no sample, rather than a made-up 0, so alerts on absent() fire)."""
    gauge = GaugeMetricFamily(name, documentation)
    if value is not None:
        gauge.add_metric([], value)
    return gauge


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


registry = CollectorRegistry()
registry.register(ReminderCollector())


def exposition() -> bytes:
    """The metrics in Prometheus text format."""
    return generate_latest(registry)
