"""The reminder mail's HTML part as a person sees it, and a digest's: rendered in
headless Chromium, in English and in German, with a screenshot of each saved under
test-artifacts/ (look at them)."""

from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By

from reminders_app.channels import Digest, EmailChannel, Reminder
from reminders_app.models import ReminderPreference
from tests.conftest import ARTIFACTS
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def look_at(browser, html: str, name: str, *, height: int) -> str:
    """Open the HTML part in the browser as a 700 px wide window, save it and its
    screenshot as test-artifacts/NAME.html and NAME.png; the text it shows."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / f"{name}.html"
    page.write_text(html)
    browser.set_window_size(700, height)
    browser.get(page.as_uri())
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    return browser.find_element(By.TAG_NAME, "body").text


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

    shown = look_at(browser, html, reader["artifact"], height=700)

    assert mime == "text/html"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    assert reader["title"] in shown
    for said in reader["says"]:
        assert said in shown
    open_task, stop = reader["links"]
    button = browser.find_element(By.LINK_TEXT, open_task)
    assert button.get_attribute("href") == f"https://app.example.com/tasks/{task.pk}/"
    assert browser.find_element(By.LINK_TEXT, stop).is_displayed()
    # No image, stylesheet or script to fetch: everything is inline.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0


def test_a_digest_reads_well_in_a_browser(now, browser, settings):
    settings.SITE_URL = "https://reminders.example.org"
    settings.REMINDER_TASK_URL = "https://app.example.com/tasks/{task_id}/"
    reader = UserFactory(first_name="Ada", email="ada@example.com")
    ReminderPreference.objects.create(user=reader, time_zone="America/New_York", digest=True)
    titles = ["Send the quarterly report", "Book the venue for the offsite", "Renew the domain"]
    tasks = [
        TaskFactory(owner=reader, title=title, due_at=now + timedelta(hours=hours))
        for title, hours in zip(titles, [2, 7, 22], strict=True)
    ]
    reminders = tuple(
        Reminder(50 + n, task.pk, reader.pk, task.due_at, attempts=0)
        for n, task in enumerate(tasks)
    )
    channel = EmailChannel()
    channel.prepare(list(reminders), now=now)
    message, left_out = channel.mail.build_digest(Digest(reminders))
    ((html, mime),) = message.alternatives

    shown = look_at(browser, html, "digest-email", height=900)

    assert (mime, left_out) == ("text/html", [])
    assert "Hello Ada" in shown
    assert "3 tasks are due soon" in shown
    assert "The soonest first. Times are in America/New_York." in shown
    lines = [
        "Send the quarterly report",
        "Due Tuesday 10 March 2026 at 10:00 EDT, in 2 hours.",
        "Book the venue for the offsite",
        "Due Tuesday 10 March 2026 at 15:00 EDT, in 7 hours.",
        "Renew the domain",
        "Due Wednesday 11 March 2026 at 06:00 EDT, in 22 hours.",
    ]
    positions = [shown.index(line) for line in lines]
    assert positions == sorted(positions)
    for task in tasks:
        link = browser.find_element(By.LINK_TEXT, task.title)
        assert link.get_attribute("href") == f"https://app.example.com/tasks/{task.pk}/"
    assert browser.find_element(By.LINK_TEXT, "Stop reminder emails").is_displayed()
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
