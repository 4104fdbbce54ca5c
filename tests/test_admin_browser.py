"""The reminder log in a real browser: headless Chromium driven by Selenium.

Skips when Chromium or its driver is missing, unless REQUIRE_BROWSER_TESTS=1 (CI),
where a missing browser fails the run instead.
"""

import os
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from reminders_app.models import ReminderLog, ReminderRun
from reminders_app.viewers import add_to_reminder_viewers
from tests.conftest import ARTIFACTS
from tests.factories import ReminderLogFactory, ReminderRunFactory, UserFactory

PASSWORD = "a-viewer-password-1"


def shown_task_ids(browser):
    cells = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody td.field-task_link a")
    return {int(cell.text.split(":")[0]) for cell in cells}


def pick_status(browser, status):
    link = f"#changelist-filter a[href*='status__exact={status}']"
    browser.find_element(By.CSS_SELECTOR, link).click()
    WebDriverWait(browser, 10).until(EC.url_contains(f"status__exact={status}"))


def test_a_reminder_viewer_finds_a_reminder_and_cannot_change_it(live_server, browser):
    # GIVEN a member of "Reminder viewers" and a trail with sent and failed reminders
    viewer = UserFactory(username="viewer")
    viewer.set_password(PASSWORD)
    viewer.save()
    add_to_reminder_viewers(viewer)
    sent = ReminderLogFactory.create_batch(3)
    failed = ReminderLogFactory.create_batch(
        2, status=ReminderLog.Status.FAILED, sent_at=None, attempts=5, error="SMTPException"
    )

    # WHEN they log in and open the reminder log
    log_url = reverse("admin:reminders_app_reminderlog_changelist")
    browser.get(f"{live_server.url}{reverse('admin:login')}?next={log_url}")
    browser.find_element(By.NAME, "username").send_keys("viewer")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    browser.find_element(By.ID, "result_list")
    assert shown_task_ids(browser) == {r.task_id for r in sent + failed}
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "admin-reminder-log.png"))

    # THEN the status filter narrows the list
    pick_status(browser, "failed")
    assert shown_task_ids(browser) == {r.task_id for r in failed}
    pick_status(browser, "sent")
    assert shown_task_ids(browser) == {r.task_id for r in sent}

    # AND searching a task id finds its reminder
    wanted = sent[1]
    browser.find_element(By.ID, "searchbar").send_keys(f"{wanted.task_id}" + Keys.ENTER)
    WebDriverWait(browser, 10).until(EC.url_contains(f"q={wanted.task_id}"))
    assert shown_task_ids(browser) == {wanted.task_id}

    # AND the reminder opens read-only: no save button, no delete link
    browser.find_element(By.CSS_SELECTOR, "#result_list tbody th.field-id a").click()
    WebDriverWait(browser, 10).until(EC.url_contains(f"/reminderlog/{wanted.pk}/change/"))
    assert "Sent" in browser.find_element(By.CSS_SELECTOR, "div.field-status").text
    browser.implicitly_wait(0)  # the page is loaded: look for absent elements at once
    assert browser.find_elements(By.CSS_SELECTOR, "[name='_save'], [name='_continue']") == []
    assert browser.find_elements(By.CSS_SELECTOR, "a.deletelink") == []


# --- The operator's window -----------------------------------------------------------


def log_in(browser, live_server, user, url):
    """Log `user` in through the login page and open `url`."""
    user.set_password(PASSWORD)
    user.save()
    browser.get(f"{live_server.url}{reverse('admin:login')}?next={url}")
    browser.find_element(By.NAME, "username").send_keys(user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    WebDriverWait(browser, 10).until(EC.url_contains(url))


def screenshot(browser, name: str, *, full_page: bool = False):
    """Save a screenshot under test-artifacts/; `full_page` grows the window to the
    page's height first (headless Chromium captures the window only)."""
    ARTIFACTS.mkdir(exist_ok=True)
    if full_page:
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, max(height + 120, 1000))
    browser.save_screenshot(str(ARTIFACTS / name))


def no_horizontal_scroll(browser) -> bool:
    """Neither the page nor a changelist's results box scrolls sideways."""
    return browser.execute_script(
        "const results = document.querySelector('#changelist .results');"
        "return document.documentElement.scrollWidth <= window.innerWidth"
        " && (!results || results.scrollWidth <= results.clientWidth)"
    )


def a_week_of_runs():
    """Hourly runs over the last week: mostly sent, some failures and suppressions,
    and a slow, late run now and then."""
    now = timezone.now()
    for hours_ago in range(0, 7 * 24, 3):
        started = now - timedelta(hours=hours_ago)
        ReminderRunFactory(
            started_at=started,
            finished_at=started + timedelta(seconds=1 + hours_ago % 7),
            scheduled_for=started - timedelta(seconds=hours_ago % 30),
            lag=timedelta(seconds=hours_ago % 30),
            sent=20 + hours_ago % 40,
            failed=3 if hours_ago % 24 == 6 else 0,
            suppressed=2 if hours_ago % 12 == 0 else 0,
            selected=25 + hours_ago % 40,
            channel="reminders_app.channels.EventChannel",
        )


def test_the_admin_home_shows_charts_of_reminders_and_runs(live_server, browser, hourly_schedule):
    viewer = UserFactory(username="viewer")
    add_to_reminder_viewers(viewer)
    a_week_of_runs()

    log_in(browser, live_server, viewer, reverse("admin:index"))

    charts = ("chart-reminders-per-hour", "chart-run-durations", "chart-run-lags")
    for chart in charts:
        figure = browser.find_element(By.ID, chart)
        svg = figure.find_element(By.CSS_SELECTOR, "svg[role=img]")
        assert svg.is_displayed() and svg.size["width"] > 500, chart
        assert len(svg.find_elements(By.CSS_SELECTOR, "rect[fill]")) > 20, chart
        # the data table is there for screen readers, folded for everyone else
        figure.find_element(By.TAG_NAME, "summary").click()
        assert figure.find_element(By.CSS_SELECTOR, "table tbody tr").is_displayed()
    caption = browser.find_element(By.ID, "chart-reminders-per-hour-title").text
    assert caption == "Reminders per hour, last 7 days (UTC)"
    # each run chart's x labels name different times
    labels = [
        text.text
        for text in browser.find_elements(By.CSS_SELECTOR, "#chart-run-durations svg text")
        if text.get_attribute("text-anchor") == "middle"
    ]
    assert len(labels) >= 6 and len(set(labels)) == len(labels), labels
    assert no_horizontal_scroll(browser)
    for chart in charts:  # fold them again
        browser.find_element(By.CSS_SELECTOR, f"#{chart} summary").click()
    screenshot(browser, "admin-home-charts.png", full_page=True)


def test_the_runs_list_fits_1400_px(live_server, browser):
    viewer = UserFactory(username="viewer")
    add_to_reminder_viewers(viewer)
    a_week_of_runs()
    ReminderRunFactory(status=ReminderRun.Status.INTERRUPTED, error="stopped by a signal")

    log_in(browser, live_server, viewer, reverse("admin:reminders_app_reminderrun_changelist"))

    assert browser.execute_script("return window.innerWidth") <= 1400
    assert no_horizontal_scroll(browser)
    width = browser.execute_script("return window.innerWidth")
    first_row = browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr")
    link = first_row.find_element(By.LINK_TEXT, "reminders")
    assert link.is_displayed() and link.rect["x"] + link.rect["width"] <= width
    status = first_row.find_element(By.CSS_SELECTOR, "td.field-status_shown")
    assert status.rect["x"] + status.rect["width"] <= width
    short_id = first_row.find_element(By.CSS_SELECTOR, "th.field-short_id a")
    assert len(short_id.text) == 8
    screenshot(browser, "admin-runs-list.png")

    # a run's short id opens it, with its counts as a chart
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    rows[1].find_element(By.CSS_SELECTOR, "th.field-short_id a").click()
    WebDriverWait(browser, 10).until(EC.url_contains("/change/"))
    assert browser.find_element(By.CSS_SELECTOR, "#chart-run-counts svg").is_displayed()
    screenshot(browser, "admin-run-page.png", full_page=True)


def test_a_filtered_trail_shows_its_filter(live_server, browser):
    viewer = UserFactory(username="viewer")
    add_to_reminder_viewers(viewer)
    owner = UserFactory(username="ann", email="ann@example.com")
    ReminderLogFactory.create_batch(3, task__owner=owner)
    failed, gone = ReminderLogFactory.create_batch(
        2, status=ReminderLog.Status.FAILED, sent_at=None, attempts=5, error="SMTPRecipientsRefused"
    )
    get_user_model().objects.filter(pk=gone.recipient_id).delete()  # with their task

    log_in(browser, live_server, viewer, reverse("admin:reminders_app_reminderlog_changelist"))
    pick_status(browser, "failed")

    assert shown_task_ids(browser) == {failed.task_id}
    assert browser.find_element(By.TAG_NAME, "h2").text == "Filtered by status: Failed"
    selected = browser.find_element(By.CSS_SELECTOR, "#changelist-filter li.selected a")
    assert selected.text == "Failed"
    assert browser.find_element(By.LINK_TEXT, "✖ Clear all filters").is_displayed()
    cells = browser.find_elements(By.CSS_SELECTOR, "#result_list td.field-recipient_shown")
    assert [cell.text for cell in cells] == [
        f"{gone.recipient_id} · deleted person",
        f"{failed.recipient_id} · {failed.recipient.get_username()}",
    ]
    task_cell = browser.find_element(By.CSS_SELECTOR, "#result_list td.field-task_link").text
    assert task_cell == f"{gone.task_id}: deleted task"
    assert no_horizontal_scroll(browser)
    screenshot(browser, "admin-filtered-trail.png")


def test_send_now_queues_a_run_only_when_a_cluster_runs(live_server, browser, monkeypatch):
    from django.contrib.auth.models import Permission
    from django_q.models import OrmQ

    operator = UserFactory(username="operator")
    add_to_reminder_viewers(operator)
    operator.user_permissions.add(Permission.objects.get(codename="send_reminders_now"))
    ReminderRunFactory()
    runs = reverse("admin:reminders_app_reminderrun_changelist")
    log_in(browser, live_server, operator, runs)

    # WITHOUT a cluster the page says so and offers no button
    monkeypatch.setattr("reminders_app.admin.send_now.running_clusters", lambda: [])
    browser.find_element(By.LINK_TEXT, "SEND NOW").click()
    assert "No worker cluster is running" in browser.find_element(By.ID, "no-cluster").text
    browser.implicitly_wait(0)
    assert browser.find_elements(By.ID, "send-now-confirm") == []
    browser.implicitly_wait(5)
    screenshot(browser, "admin-send-now-no-cluster.png")

    # WITH one, a confirmation queues one run and the message links to admin runs
    monkeypatch.setattr("reminders_app.admin.send_now.running_clusters", lambda: ["a cluster"])
    browser.refresh()
    screenshot(browser, "admin-send-now-confirm.png")
    browser.find_element(By.ID, "send-now-confirm").click()
    WebDriverWait(browser, 10).until(EC.url_contains("trigger__exact=admin"))
    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success")
    assert "Queued a run of the reminder job" in message.text
    assert (
        message.find_element(By.TAG_NAME, "a")
        .get_attribute("href")
        .endswith(f"{runs}?trigger__exact=admin")
    )
    assert [task.task["kwargs"] for task in OrmQ.objects.all()] == [{"trigger": "admin"}]
    assert browser.find_element(By.TAG_NAME, "h2").text == "Filtered by trigger: Admin"
    screenshot(browser, "admin-send-now-queued.png")


# --- What the demo's staff user sees ---------------------------------------------------


def test_the_demo_staff_user_finds_preferences_tasks_by_id_and_failures_for_good(
    live_server, browser, settings
):
    from django.core.management import call_command

    from tasksite.demo.management.commands.seed_demo import DEMO_PASSWORD, NO_ADDRESS

    settings.DEBUG = True  # seed_demo is for development only
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    call_command("send_reminders", stdout=open(os.devnull, "w"))  # as `make demo` does
    demo = get_user_model().objects.get(username="demo")

    # the user page, with the preference section: seen with the README's login
    browser.get(f"{live_server.url}{reverse('admin:login')}")
    browser.find_element(By.NAME, "username").send_keys("demo")
    browser.find_element(By.NAME, "password").send_keys(DEMO_PASSWORD + Keys.ENTER)
    WebDriverWait(browser, 10).until(EC.url_contains(reverse("admin:index")))
    browser.get(f"{live_server.url}{reverse('admin:auth_user_change', args=[demo.pk])}")
    section = browser.find_element(By.ID, "reminder_preference-group")
    assert "Reminder preference: Europe/Paris, mail on" in section.text
    assert "of user" not in section.text and "REMINDER_" not in section.text
    screenshot(browser, "admin-demo-user-page.png", full_page=True)

    # the home page: the worker's health and the week the demo's history makes
    browser.get(f"{live_server.url}{reverse('admin:index')}")
    assert browser.find_element(By.ID, "chart-run-lags-title").text == (
        "Lag of the last 48 runs (seconds, UTC)"
    )
    screenshot(browser, "admin-demo-home.png", full_page=True)

    # the task list: an id column, and a task found by the id the trail shows
    browser.set_window_size(1400, 1000)
    failed = ReminderLog.objects.get(status=ReminderLog.Status.FAILED)
    browser.get(f"{live_server.url}{reverse('admin:tasks_app_task_changelist')}")
    browser.find_element(By.ID, "searchbar").send_keys(f"{failed.task_id}" + Keys.ENTER)
    WebDriverWait(browser, 10).until(EC.url_contains(f"q={failed.task_id}"))
    ids = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody th.field-id a")
    assert [link.text for link in ids] == [str(failed.task_id)]
    assert no_horizontal_scroll(browser)
    screenshot(browser, "admin-task-search-by-id.png")

    # the reminder that failed for good says so on its page
    browser.get(
        f"{live_server.url}{reverse('admin:reminders_app_reminderlog_change', args=[failed.pk])}"
    )
    retry = browser.find_element(By.CSS_SELECTOR, "div.field-retry").text
    assert "Failed for good: no run will retry it" in retry, retry
    recipient = browser.find_element(By.CSS_SELECTOR, "div.field-recipient_shown").text
    assert NO_ADDRESS in recipient
    screenshot(browser, "admin-reminder-failed-for-good.png", full_page=True)

    # the run of `make demo`'s command has no lag: "-", as every other empty field
    browser.set_window_size(1400, 1000)
    run = ReminderRun.objects.filter(lag=None).first()
    browser.get(
        f"{live_server.url}{reverse('admin:reminders_app_reminderrun_change', args=[run.pk])}"
    )
    lag = browser.find_element(By.CSS_SELECTOR, "div.field-lag_shown .readonly").text
    assert lag == "-"
    screenshot(browser, "admin-run-page-no-lag.png", full_page=True)


def test_a_superuser_erases_a_person_after_seeing_who_it_will_be(live_server, browser):
    from selenium.webdriver.support.ui import Select

    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    ann = UserFactory(username="ann", first_name="Ann", last_name="Lee", email="ann@example.com")
    ReminderLogFactory(task__owner=ann, task__title="Ann's secret plan")
    users = reverse("admin:auth_user_changelist")
    log_in(browser, live_server, root, users)

    browser.find_element(By.CSS_SELECTOR, f"input.action-select[value='{ann.pk}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_visible_text("Erase personal data")
    browser.find_element(By.CSS_SELECTOR, "button[name='index']").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#erase-people tbody tr")
    assert [row.text for row in rows] == [f"{ann.pk} ann Ann Lee ann@example.com 1"]
    screenshot(browser, "admin-erase-confirmation.png")

    browser.find_element(By.ID, "erase-confirm").click()
    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert message == f"Erased the personal data of 1 user: erased-{ann.pk}"
    assert "ann@example.com" not in browser.page_source
    screenshot(browser, "admin-erased.png")
