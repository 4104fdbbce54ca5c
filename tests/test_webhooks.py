"""Providers' bounce and complaint webhooks, as a provider reaches them: its own JSON
posted to a real gunicorn serving the site in production mode, over plain HTTP with
basic auth, no session and no CSRF token; then the job, against a real relay.

The payloads are those Postmark's and Mailjet's documentation show for each event
(two providers whose webhooks authenticate with basic auth alone)."""

import base64
import http.client
import json
from urllib.parse import urlsplit

import pytest

from reminders_app.models import Suppression
from tests.conftest import NOW
from tests.gunicorn import gunicorn, prepare, production_env, scratch_database
from tests.processes import run_manage
from tests.smtp import Relay

SECRET = "provider:a-long-random-webhook-password"
POSTMARK = "/anymail/postmark/tracking/"
MAILJET = "/anymail/mailjet/tracking/"


def postmark(record_type: str, kind: str, address: str) -> dict:
    """A Postmark bounce or spam complaint webhook."""
    return {
        "RecordType": record_type,
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": {"HardBounce": 1, "Transient": 2, "SpamComplaint": 512}.get(kind, 4096),
        "Name": kind,
        "Tag": "",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist."
        if kind == "HardBounce"
        else "",
        "Email": address,
        "From": "reminders@example.com",
        "BouncedAt": "2026-03-10T11:00:00Z",
        "DumpAvailable": False,
        "Inactive": kind in {"HardBounce", "SpamComplaint"},
        "CanActivate": True,
        "Subject": "Reminder",
    }


def mailjet(event: str, address: str, **fields) -> dict:
    """A Mailjet event (its webhook posts one object, or a list of them)."""
    return {
        "event": event,
        "time": 1773140400,
        "MessageID": 13792286917004336,
        "Message_GUID": "1ab23cd4-e567-8901-2345-6789f0gh1i2j",
        "email": address,
        "mj_campaign_id": 0,
        "mj_contact_id": 0,
        "customcampaign": "",
        "CustomID": "",
        "Payload": "",
        **fields,
    }


@pytest.fixture
def site(tmp_path):
    """The site in production mode with the webhook secret set, on a database of its
    own: its environment (for manage.py commands on that database) and its port."""
    with scratch_database(tmp_path, "webhooks") as url:
        env = production_env(tmp_path, DATABASE_URL=url, ANYMAIL_WEBHOOK_SECRET=SECRET)
        prepare(env, ["migrate", "--no-input", "-v0"])
        with gunicorn(env, tmp_path / "gunicorn.log") as address:
            yield env, urlsplit(address).port


def post(port: int, path: str, payload, *, auth: str | None = None) -> int:
    """POST `payload` as JSON the way a provider does; the response's status."""
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, json.dumps(payload), headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def facts(env, code: str):
    """What a `manage.py shell -c` script prints as JSON, on the site's database."""
    result = run_manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


SUPPRESSIONS = """
import json
from reminders_app.models import Suppression
print(json.dumps(sorted(Suppression.objects.values_list("address", "reason", "source"))))
"""

# One task due in an hour for each of these people, and what became of its reminder.
MAILED = ["hard@example.com", "spam@example.com", "soft@example.com", "forged@example.com"]
SEED = f"""
from datetime import datetime, timedelta
from django.contrib.auth import get_user_model
from tasks_app.models import Task
for address in {MAILED!r}:
    owner = get_user_model().objects.create_user(address.split("@")[0], address)
    Task.objects.create(
        title="Renew", owner=owner, due_at=datetime.fromisoformat("{NOW.isoformat()}")
        + timedelta(hours=1)
    )
"""
OUTCOMES = """
import json
from reminders_app.models import ReminderLog
print(json.dumps({r.recipient.email: [r.status, r.error] for r in ReminderLog.objects.all()}))
"""


def test_a_bounce_or_complaint_posted_with_the_secret_stops_mail_and_one_without_it_does_not(
    site,
):
    env, port = site
    provider = [
        (POSTMARK, postmark("Bounce", "HardBounce", "Hard@Example.com")),
        (POSTMARK, postmark("Bounce", "SoftBounce", "soft@example.com")),
        (POSTMARK, postmark("Bounce", "Transient", "late@example.com")),  # deferred
        (POSTMARK, postmark("SpamComplaint", "SpamComplaint", "spam@example.com")),
        (MAILJET, mailjet("bounce", "mj-hard@example.com", hard_bounce=True, error="user unknown")),
        (
            MAILJET,
            mailjet("bounce", "mj-soft@example.com", hard_bounce=False, error="quota exceeded"),
        ),
        (MAILJET, [mailjet("spam", "mj-spam@example.com", source="JMRPP")]),
        (MAILJET, mailjet("blocked", "mj-blocked@example.com", error="user unknown")),
        (MAILJET, mailjet("blocked", "mj-policy@example.com", error="sender blocked")),
    ]
    forged = postmark("Bounce", "HardBounce", "forged@example.com")

    statuses = [post(port, path, payload, auth=SECRET) for path, payload in provider]
    refused = [
        post(port, POSTMARK, forged),
        post(port, POSTMARK, forged, auth="provider:a-guess"),
        post(port, MAILJET, mailjet("spam", "forged@example.com"), auth=SECRET + "x"),
    ]

    # Anymail's views: no login, no CSRF token needed; a missing or wrong secret is
    # refused and changes nothing.
    assert statuses == [200] * len(provider)
    assert refused == [400, 400, 400]
    assert facts(env, SUPPRESSIONS) == [
        ["Hard@Example.com", "bounced", "anymail:Postmark"],
        ["mj-blocked@example.com", "rejected", "anymail:Mailjet"],
        ["mj-hard@example.com", "bounced", "anymail:Mailjet"],
        ["mj-spam@example.com", "complained", "anymail:Mailjet"],
        ["spam@example.com", "complained", "anymail:Postmark"],
    ]

    # The next run mails neither the bounced nor the complaining address; the others,
    # the forged bounce's included, get their reminders.
    relay = Relay().start()
    try:
        mail = env | relay.env() | {"REMINDER_CHANNEL": "reminders_app.channels.EmailChannel"}
        prepare(mail, ["shell", "--no-imports", "-c", SEED])
        run = run_manage("send_reminders", "--json", "--now", NOW.isoformat(), env=mail)
    finally:
        relay.stop()

    assert run.returncode == 0, run.stderr
    assert sorted(m["To"] for m in relay.received()) == ["forged@example.com", "soft@example.com"]
    summary = json.loads(run.stdout)
    assert (summary["sent"], summary["suppressed"]) == (2, 2)
    assert facts(env, OUTCOMES) == {
        "hard@example.com": ["suppressed", "address bounced"],
        "spam@example.com": ["suppressed", "address complained"],
        "soft@example.com": ["sent", ""],
        "forged@example.com": ["sent", ""],
    }


@pytest.mark.django_db
def test_without_the_secret_the_webhooks_are_not_served(client):
    """The test settings, as a deploy without ANYMAIL_WEBHOOK_SECRET: 404, not an open
    door."""
    payload = json.dumps(postmark("Bounce", "HardBounce", "ada@example.com"))

    response = client.post(POSTMARK, payload, content_type="application/json")

    assert response.status_code == 404
    assert not Suppression.objects.exists()
