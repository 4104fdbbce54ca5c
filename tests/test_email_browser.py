"""The reminder mail's HTML part as a person sees it: rendered in headless Chromium,
in English and in German, with a screenshot of each saved under test-artifacts/
(look at them)."""

from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By

from reminders_app.channels import EmailChannel, Reminder
from reminders_app.models import ReminderPreference
from tests.conftest import ARTIFACTS
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

READERS = {
    "en": {
        "reader": ("Ada", "America/New_York"),
        "title": "Send the quarterly report",
        "says": [
            "Hello Ada",
            "Tuesday 10 March 2026 at 13:00 EDT (America/New_York), in 5 hours",
        ],
        "links": ("Open the task", "Stop reminder emails"),
        "artifact": "reminder-email",
    },
    "de": {
        "reader": ("Jörg", "Europe/Berlin"),
        "title": "Quartalsbericht abschicken",
        "says": [
            "Hallo Jörg",
            "ist am Dienstag, 10. März 2026 um 18:00 CET (Europe/Berlin) fällig, in 5 Stunden",
        ],
        "links": ("Aufgabe öffnen", "Erinnerungs-E-Mails abbestellen"),
        "artifact": "reminder-email-de",
    },
}


@pytest.mark.parametrize("language", READERS)
def test_the_html_part_reads_well_in_a_browser(now, browser, settings, language):
    reader = READERS[language]
    settings.SITE_URL = "https://reminders.example.org"
    settings.REMINDER_TASK_URL = "https://app.example.com/tasks/{task_id}/"
    first_name, zone = reader["reader"]
    owner = UserFactory(first_name=first_name, email="reader@example.com")
    ReminderPreference.objects.create(user=owner, time_zone=zone, language=language)
    task = TaskFactory(owner=owner, title=reader["title"], due_at=now + timedelta(hours=5))
    channel = EmailChannel()
    reminder = Reminder(41, task.pk, owner.pk, task.due_at, attempts=0)
    channel.prepare([reminder], now=now)
    ((html, mime),) = channel.message(reminder).alternatives
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / f"{reader['artifact']}.html"
    page.write_text(html)

    browser.set_window_size(700, 700)
    browser.get(page.as_uri())
    browser.save_screenshot(str(ARTIFACTS / f"{reader['artifact']}.png"))

    assert mime == "text/html"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    shown = browser.find_element(By.TAG_NAME, "body").text
    assert reader["title"] in shown
    for said in reader["says"]:
        assert said in shown
    open_task, stop = reader["links"]
    button = browser.find_element(By.LINK_TEXT, open_task)
    assert button.get_attribute("href") == f"https://app.example.com/tasks/{task.pk}/"
    assert browser.find_element(By.LINK_TEXT, stop).is_displayed()
    # No image, stylesheet or script to fetch: everything is inline.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
