"""The reminder mail's HTML part as a person sees it: rendered in headless Chromium,
with a screenshot saved under test-artifacts/ (look at it)."""

from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By

from reminders_app.channels import EmailChannel, Reminder
from reminders_app.models import ReminderPreference
from tests.conftest import ARTIFACTS
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_html_part_reads_well_in_a_browser(now, browser, settings):
    settings.SITE_URL = "https://reminders.example.org"
    settings.REMINDER_TASK_URL = "https://app.example.com/tasks/{task_id}/"
    owner = UserFactory(first_name="Ada", email="ada@example.com")
    ReminderPreference.objects.create(user=owner, time_zone="America/New_York")
    task = TaskFactory(
        owner=owner, title="Send the quarterly report", due_at=now + timedelta(hours=5)
    )
    channel = EmailChannel()
    reminder = Reminder(41, task.pk, owner.pk, task.due_at, attempts=0)
    channel.prepare([reminder], now=now)
    ((html, mime),) = channel.message(reminder).alternatives
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "reminder-email.html"
    page.write_text(html)

    browser.set_window_size(700, 700)
    browser.get(page.as_uri())
    browser.save_screenshot(str(ARTIFACTS / "reminder-email.png"))

    assert mime == "text/html"
    shown = browser.find_element(By.TAG_NAME, "body").text
    assert "Hello Ada" in shown
    assert "Send the quarterly report" in shown
    assert "Tuesday 10 March 2026 at 13:00 EDT (America/New_York), in 5 hours" in shown
    button = browser.find_element(By.LINK_TEXT, "Open the task")
    assert button.get_attribute("href") == f"https://app.example.com/tasks/{task.pk}/"
    assert browser.find_element(By.LINK_TEXT, "Stop reminder emails").is_displayed()
    # No image, stylesheet or script to fetch: everything is inline.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0


def test_the_german_html_part_reads_well_in_a_browser(now, browser, settings):
    settings.SITE_URL = "https://reminders.example.org"
    settings.REMINDER_TASK_URL = "https://app.example.com/tasks/{task_id}/"
    owner = UserFactory(first_name="Jörg", email="joerg@example.com")
    ReminderPreference.objects.create(user=owner, time_zone="Europe/Berlin", language="de")
    task = TaskFactory(
        owner=owner, title="Quartalsbericht abschicken", due_at=now + timedelta(hours=5)
    )
    channel = EmailChannel()
    reminder = Reminder(42, task.pk, owner.pk, task.due_at, attempts=0)
    channel.prepare([reminder], now=now)
    ((html, _),) = channel.message(reminder).alternatives
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "reminder-email-de.html"
    page.write_text(html)

    browser.set_window_size(700, 700)
    browser.get(page.as_uri())
    browser.save_screenshot(str(ARTIFACTS / "reminder-email-de.png"))

    shown = browser.find_element(By.TAG_NAME, "body").text
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
    assert "Hallo Jörg" in shown
    assert (
        "ist am Dienstag, 10. März 2026 um 18:00 CET (Europe/Berlin) fällig, in 5 Stunden" in shown
    )
    button = browser.find_element(By.LINK_TEXT, "Aufgabe öffnen")
    assert button.get_attribute("href") == f"https://app.example.com/tasks/{task.pk}/"
    assert browser.find_element(By.LINK_TEXT, "Erinnerungs-E-Mails abbestellen").is_displayed()
