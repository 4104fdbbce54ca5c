"""The reminder log in a real browser: headless Chromium driven by Selenium.

Skips when Chromium or its driver is missing, unless REQUIRE_BROWSER_TESTS=1 (CI),
where a missing browser fails the run instead.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.urls import reverse
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from reminders_app.models import ReminderLog
from reminders_app.viewers import add_to_reminder_viewers
from tests.factories import ReminderLogFactory, UserFactory
from tests.processes import PROJECT

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = PROJECT / "test-artifacts"
PASSWORD = "a-viewer-password-1"


@pytest.fixture
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        reason = f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
            pytest.fail(f"REQUIRE_BROWSER_TESTS=1 but {reason}")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for argument in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)  # a bounded wait for each element lookup
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


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
