"""An SMTP sink for `make bench-email`: aiosmtpd on 127.0.0.1 in a process of its own,
taking `--delay` seconds to accept each message, as a real relay takes its time.

It appends one line per event to `--out`: `connection` for each EHLO/HELO (one per
connection) and `message <X-Reminder-ID or ->` for each message accepted. Stops on
SIGTERM.
"""

import argparse
import asyncio
import re
import signal
import threading

from aiosmtpd.controller import Controller

REMINDER_ID = re.compile(rb"^X-Reminder-ID: *(\d+)", re.MULTILINE | re.IGNORECASE)


class Sink:
    def __init__(self, *, delay: float, out):
        self.delay = delay
        self.out = out
        self.lock = threading.Lock()

    def write(self, line: str) -> None:
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.write("connection")
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self.write("connection")
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        found = REMINDER_ID.search(envelope.original_content or envelope.content)
        self.write(f"message {found.group(1).decode() if found else '-'}")
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with open(args.out, "a") as out:
        controller = Controller(
            Sink(delay=args.delay, out=out), hostname="127.0.0.1", port=args.port
        )
        controller.start()
        print("ready", flush=True)
        stopped.wait()
        controller.stop()


if __name__ == "__main__":
    main()
