"""Charts for the admin, drawn on the server as inline SVG: no script, no request to
the internet. Each chart is a <figure> whose SVG has a title and description for
screen readers, followed by the same figures as a table.

The data come from ReminderRun rows (one per run, with its kept counts), in one
aggregate query per chart whatever the number of reminders.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Sum
from django.db.models.functions import Trunc
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.utils import timezone

from reminders_app.models import ReminderRun

# Colours with at least 3:1 contrast on white (WCAG for graphics) that stay apart
# for the common kinds of colour blindness (Okabe-Ito blue and vermillion).
SENT = "#0a6ab4"
FAILED = "#c0392b"
SUPPRESSED = "#7b4fa3"
SKIPPED = "#6b6b6b"
RELEASED = "#a66c00"
DURATION = "#0a6ab4"
LAG = "#a66c00"

HISTORY_DAYS = 7
RECENT_RUNS = 48


@dataclass(frozen=True)
class Series:
    name: str
    colour: str


@dataclass(frozen=True)
class Group:
    """One position on the x axis: its label (may be empty) and a value per series."""

    label: str
    values: tuple[float, ...]
    table_label: str = ""


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    series: list[Series],
    groups: list[Group],
    stacked: bool = True,
    unit: str = "",
    value_labels: bool = False,
    legend: bool = True,
    skip_empty_rows: bool = False,
    whole_numbers: bool = True,
    width: int = 760,
    height: int = 230,
) -> str:
    """An SVG bar chart (stacked or side by side) with axes, legend and a data table."""
    left, right, top, bottom = 58, 28, 30 if legend else 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(g.values) if stacked else max(g.values, default=0) for g in groups]
    y_max = nice_ceiling(max(totals, default=0))
    if whole_numbers:
        y_max = max(y_max, 4)  # ticks at quarters: no 0.25 of a reminder
    slot = plot_w / max(len(groups), 1)
    gap = min(slot * 0.2, 8)

    def y(value):
        return top + plot_h - value / y_max * plot_h

    bars, labels, values = [], [], []
    for index, group in enumerate(groups):
        x0 = left + index * slot + gap / 2
        inner = slot - gap
        base = 0.0
        for number, (one, value) in enumerate(zip(series, group.values, strict=True)):
            if not value:
                continue
            if stacked:
                bar_x, bar_w, bottom_value = x0, inner, base
                base += value
            else:
                bar_w = inner / len(series)
                bar_x, bottom_value = x0 + number * bar_w, 0.0
            bars.append(
                {
                    "x": _r(bar_x),
                    "y": _r(y(bottom_value + value)),
                    "w": _r(max(bar_w, 0.5)),
                    "h": _r(max(y(bottom_value) - y(bottom_value + value), 0.5)),
                    "colour": one.colour,
                    "tip": f"{group.table_label or group.label}: {_fmt(value)}{unit} {one.name}",
                }
            )
        if group.label:
            labels.append({"x": _r(x0 + inner / 2), "text": group.label})
        if value_labels:
            total = totals[index]
            values.append({"x": _r(x0 + inner / 2), "y": _r(y(total) - 4), "text": _fmt(total)})
    ticks = [
        {"y": _r(y(y_max * step / 4)), "text": f"{_fmt(y_max * step / 4)}{unit}"}
        for step in range(5)
    ]
    # Without a legend each bar is its own series (one value per group): one column.
    columns = [s.name for s in series] if legend else [f"count{unit}"]
    rows = [
        {
            "label": g.table_label or g.label,
            "values": [_fmt(v) for v in g.values] if legend else [_fmt(sum(g.values))],
        }
        for g in groups
        if not (skip_empty_rows and not any(g.values))
    ]
    return render_to_string(
        "reminders_app/bar_chart.html",
        {
            "id": chart_id,
            "title": title,
            "description": description,
            "width": width,
            "height": height,
            "plot": {"left": left, "right": width - right, "top": top, "bottom": top + plot_h},
            "axis_y": top + plot_h,
            "label_y": top + plot_h + 16,
            "legend": [
                {"x": left + 130 * i, "name": s.name, "colour": s.colour}
                for i, s in enumerate(series)
            ]
            if legend
            else [],
            "bars": bars,
            "labels": labels,
            "values": values,
            "ticks": ticks,
            "columns": columns,
            "rows": rows,
            "unit": unit.strip(),
        },
    )


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `value`
    (at least 1), so the axis ticks at quarters read as round numbers."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def counted(count: int, noun: str, *, shown_one: bool = True) -> str:
    """ "1 reminder", "2 reminders", "1,000 reminders"; "run" for one that is not
    shown ("the last run")."""
    if count == 1 and not shown_one:
        return noun
    return f"{count:,} {noun}{pluralize(count)}"


def _r(value: float) -> str:
    return f"{value:.1f}"


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}" if value < 10 else f"{value:,.1f}"


# --- the admin's charts ------------------------------------------------------------


def reminders_per_hour(*, now: datetime | None = None) -> str:
    """Reminders sent, failed and suppressed per hour over the last 7 days, from the
    runs that started in each hour (one query over at most 7 * 24 run rows per hour
    the worker ran)."""
    now = (now or timezone.now()).astimezone(UTC)
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=HISTORY_DAYS) + timedelta(hours=1)
    per_hour = {
        row["hour"].astimezone(UTC): row
        for row in ReminderRun.objects.filter(started_at__gte=start, parent__isnull=True)
        .annotate(hour=Trunc("started_at", "hour", tzinfo=UTC))
        .order_by("hour")
        .values("hour")
        .annotate(
            sent_sum=Sum("sent", default=0),
            failed_sum=Sum("failed", default=0),
            suppressed_sum=Sum("suppressed", default=0),
        )
    }
    groups = []
    for n in range(HISTORY_DAYS * 24):
        hour = start + timedelta(hours=n)
        row = per_hour.get(hour, {})
        groups.append(
            Group(
                label=hour.strftime("%b %d") if hour.hour == 0 else "",
                table_label=hour.strftime("%Y-%m-%d %H:00 UTC"),
                values=(
                    row.get("sent_sum", 0),
                    row.get("failed_sum", 0),
                    row.get("suppressed_sum", 0),
                ),
            )
        )
    totals = [sum(g.values[i] for g in groups) for i in range(3)]
    return bar_chart(
        chart_id="chart-reminders-per-hour",
        title="Reminders per hour, last 7 days (UTC)",
        description=(
            f"Stacked bars per hour from {groups[0].table_label} to {groups[-1].table_label}: "
            f"{totals[0]:,} sent, {totals[1]:,} failed, {totals[2]:,} suppressed in all."
        ),
        series=[Series("sent", SENT), Series("failed", FAILED), Series("suppressed", SUPPRESSED)],
        groups=groups,
        skip_empty_rows=True,
    )


def run_times(*, limit: int = RECENT_RUNS) -> tuple[str, str]:
    """The duration and the lag of the last `limit` finished runs (one query), as two
    charts: each its own scale, so one late start does not flatten every duration."""
    runs = list(
        ReminderRun.objects.exclude(status=ReminderRun.Status.RUNNING)
        .filter(parent__isnull=True)  # runs, not their parts
        .exclude(finished_at=None)
        .order_by("-started_at")
        .values("id", "started_at", "finished_at", "lag")[:limit]
    )[::-1]
    labels = run_labels([run["started_at"] for run in runs])
    table_labels = [
        f"{str(run['id'])[:8]} at {run['started_at'].astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        for run in runs
    ]
    durations = [(run["finished_at"] - run["started_at"]).total_seconds() for run in runs]
    lags = [run["lag"].total_seconds() if run["lag"] is not None else 0 for run in runs]

    def chart(chart_id: str, name: str, colour: str, values: list[float], says: str) -> str:
        return bar_chart(
            chart_id=chart_id,
            title=f"{name} of the last {counted(len(runs), 'run', shown_one=False)} (seconds, UTC)",
            description=(
                f"One bar for each of the last {counted(len(runs), 'finished run')}, "
                f"oldest first: {says}"
                if runs
                else "No run has finished yet."
            ),
            series=[Series(name.lower(), colour)],
            groups=[
                Group(label=label, table_label=table_label, values=(value,))
                for label, table_label, value in zip(labels, table_labels, values, strict=True)
            ],
            whole_numbers=False,
            unit=" s",
            height=190,
        )

    return (
        chart(
            "chart-run-durations",
            "Duration",
            DURATION,
            durations,
            f"how long each took; the longest took {_fmt(max(durations, default=0))} s.",
        ),
        chart(
            "chart-run-lags",
            "Lag",
            LAG,
            lags,
            "how late each started after its slot (0 for runs not started by the "
            f"schedule); the latest started {_fmt(max(lags, default=0))} s late.",
        ),
    )


# Label formats from the coarsest: the first that tells the labelled runs apart.
RUN_LABEL_FORMATS = ["%d %H:%M", "%d %H:%M:%S", "%H:%M:%S.%f"]


def run_labels(starts: list[datetime], *, shown: int = 8) -> list[str]:
    """About `shown` x-axis labels for runs started at `starts` (the others empty),
    precise enough that no two read the same: runs minutes apart show the minute,
    runs seconds apart the second."""
    every = max(len(starts) // shown, 1)
    picked = [start.astimezone(UTC) for start in starts[::every]]
    for form in RUN_LABEL_FORMATS:
        texts = [start.strftime(form) for start in picked]
        if len(set(texts)) == len(texts):
            break
    texts = [text[:-3] if form.endswith("%f") else text for text in texts]  # to the ms
    return [texts[i // every] if i % every == 0 else "" for i in range(len(starts))]


def run_counts(run: ReminderRun) -> str:
    """What one run did with the reminders it selected, as one bar per outcome."""
    outcomes = [
        ("sent", SENT),
        ("skipped", SKIPPED),
        ("failed", FAILED),
        ("released", RELEASED),
        ("suppressed", SUPPRESSED),
    ]
    groups = [
        Group(
            label=name,
            values=tuple(getattr(run, name) if other == name else 0 for other, _ in outcomes),
        )
        for name, _ in outcomes
    ]
    return bar_chart(
        chart_id="chart-run-counts",
        title=f"What this run did with the {counted(run.selected, 'reminder')} it selected",
        description=", ".join(f"{getattr(run, name):,} {name}" for name, _ in outcomes) + ".",
        series=[Series(name, colour) for name, colour in outcomes],
        groups=groups,
        value_labels=True,
        legend=False,
        width=520,
        height=200,
    )
