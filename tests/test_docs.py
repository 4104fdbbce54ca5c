"""The documentation holds together: README.md stays short, every relative link in it
and in docs/ leads to a file (and heading) that exists, every dependency is explained,
and the channel example in docs/channels.md works against a real HTTP server."""

import json
import re
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from reminders_app.channels import Channel, DeliveryError, RelayUnavailable, Reminder

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCED = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(path: Path) -> str:
    """The page without its fenced code blocks."""
    return FENCED.sub("", path.read_text())


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the page's headings."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", prose(path), re.M)
    }


def test_readme_is_at_most_250_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        name, _, anchor = target.partition("#")
        path = (page.parent / name).resolve() if name else page
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(target)
    assert broken == []


def test_every_dependency_is_explained():
    explained = (ROOT / "docs" / "dependencies.md").read_text().lower().replace("_", "-")
    names = [
        re.split(r"[\[=<>~ ]", line.strip())[0].lower()
        for requirements in ("requirements.txt", "requirements-dev.txt")
        for line in (ROOT / requirements).read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    ]
    assert names
    assert [name for name in names if f"**{name}" not in explained] == []


def webhook_channel() -> type:
    """The docs' example, compiled and executed as a module would be."""
    text = (ROOT / "docs" / "channels.md").read_text()
    [source] = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    namespace = {"__name__": "webhook_example"}
    exec(compile(source, "docs/channels.md", "exec"), namespace)  # noqa: S102
    return namespace["WebhookChannel"]


class Hook(BaseHTTPRequestHandler):
    """Answers each POST with the status its path names (/404), keeping what it got."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(int(self.path.strip("/")))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_webhook_example_is_a_channel_that_needs_its_url(settings):
    channel = webhook_channel()
    assert issubclass(channel, Channel)
    with pytest.raises(ImproperlyConfigured):
        channel()


def test_webhook_example_delivers_and_classifies_failures(settings, hook):
    channel = webhook_channel()
    reminder = Reminder(
        log_id=7,
        task_id=3,
        recipient_id=5,
        due_at=datetime(2026, 3, 10, 15, tzinfo=UTC),
        attempts=0,
    )
    base = f"http://127.0.0.1:{hook.server_address[1]}"

    settings.REMINDER_WEBHOOK_URL = f"{base}/200"
    channel().deliver(reminder)
    assert hook.received == [
        (
            "/200",
            "application/json",
            {
                "reminder_id": 7,
                "task_id": 3,
                "recipient_id": 5,
                "due_at": "2026-03-10T15:00:00+00:00",
            },
        )
    ]

    for status, permanent in ((404, True), (503, False)):
        settings.REMINDER_WEBHOOK_URL = f"{base}/{status}"
        with pytest.raises(DeliveryError) as failure:
            channel().deliver(reminder)
        assert (failure.value.code, failure.value.permanent) == (f"http {status}", permanent)

    with socket.socket() as free:  # a port nothing listens on: connection refused
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    settings.REMINDER_WEBHOOK_URL = f"http://127.0.0.1:{port}/200"
    with pytest.raises(RelayUnavailable):
        channel().deliver(reminder)


def test_the_host_settings_snippet_gives_send_now_a_cache_every_process_shares():
    """docs/reusable-app.md's Q_CLUSTER names a cache that is not the process's own, so
    the admin's Send now (another process than the cluster) sees a running cluster."""
    page = (ROOT / "docs" / "reusable-app.md").read_text()
    snippet = next(
        block for block in re.findall(r"```python\n(.*?)```", page, re.S) if "Q_CLUSTER" in block
    )
    settings = {}
    exec(snippet, settings)  # the page's own example

    cache = settings["CACHES"][settings["Q_CLUSTER"]["cache"]]
    assert cache["BACKEND"] not in {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
