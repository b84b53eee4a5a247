"""Notifiers against real servers on this machine, and the webhook's SSRF defences."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stackml.errors import InvalidInput
from stackml.monitoring import Alert, LogFileNotifier, SmtpNotifier, WebhookNotifier, make_notifier
from stackml.monitoring.notifiers import NotifyError
from stackml.monitoring.notifiers.webhook import post_json

ALERT = Alert("wine", "drift", "drift_share", 0.5, 0.3, "warning", "wine: drift_share = 0.5", 123)


class Receiver:
    """A real HTTP server on an address of this machine that records POSTs."""

    def __init__(self, host: str) -> None:
        self.requests: list[dict[str, Any]] = []
        self.redirect_to: str | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(
                    {
                        "path": self.path,
                        "host": self.headers["Host"],
                        "method": self.command,
                        "body": body,
                    }
                )
                if owner.redirect_to and self.path == "/hop":
                    self.send_response(307)
                    self.send_header("Location", owner.redirect_to)
                    self.end_headers()
                    return
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.host, self.port = host, self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback() -> Iterator[Receiver]:
    r = Receiver("127.0.0.1")
    yield r
    r.close()


def _own_address() -> str | None:
    """A non-loopback address of this machine, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


@pytest.fixture
def lan() -> Iterator[Receiver]:
    ip = _own_address()
    if ip is None:
        pytest.skip("this machine has no non-loopback address")
    r = Receiver(ip)
    yield r
    r.close()


def test_webhook_posts_the_alert_to_a_real_server(loopback: Receiver) -> None:
    url = f"http://127.0.0.1:{loopback.port}/hook?team=ml"
    WebhookNotifier(url, allow_loopback=True).send(ALERT)
    (req,) = loopback.requests
    assert req["path"] == "/hook?team=ml" and req["method"] == "POST"
    assert json.loads(req["body"])["alert"]["rule"] == "drift"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/",  # decimal form of 127.0.0.1
        "http://0177.0.0.1/",  # octal form of 127.0.0.1
        "http://0x7f.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
        "http://0.0.0.0/",
        "http://10.1.2.3/",
        "http://[fe80::1]/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
    ],
)
def test_ssrf_targets_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        WebhookNotifier(url)


def test_link_local_is_refused_even_when_loopback_is_allowed() -> None:
    with pytest.raises(InvalidInput):
        WebhookNotifier("http://169.254.169.254/", allow_loopback=True, allow_private=True)


def test_redirects_are_rechecked(lan: Receiver, loopback: Receiver) -> None:
    base = f"http://{lan.host}:{lan.port}"
    for target in (
        f"http://127.0.0.1:{loopback.port}/stolen",
        f"http://2130706433:{loopback.port}/stolen",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
    ):
        lan.redirect_to = target
        with pytest.raises(InvalidInput):
            post_json(f"{base}/hop", {"x": 1}, allow_private=True)
    assert loopback.requests == []
    lan.redirect_to = f"{base}/final"  # an allowed redirect is followed, with the body
    assert post_json(f"{base}/hop", {"x": 1}, allow_private=True) == 204
    assert [r["path"] for r in lan.requests][-2:] == ["/hop", "/final"]
    assert json.loads(lan.requests[-1]["body"]) == {"x": 1}


def test_resolved_address_is_pinned_and_host_header_kept(
    lan: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo
    calls: list[str] = []

    def fake(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.test":
            calls.append(host)
            return real(lan.host, *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    post_json(f"http://hooks.example.test:{lan.port}/x", {}, allow_private=True)
    assert calls == ["hooks.example.test"]  # resolved once, then connected to that address
    assert lan.requests[-1]["host"] == f"hooks.example.test:{lan.port}"


def test_failed_delivery_is_a_notify_error(loopback: Receiver) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    with pytest.raises(NotifyError):
        WebhookNotifier(f"http://127.0.0.1:{port}/", allow_loopback=True, timeout=2).send(ALERT)


def test_log_file_notifier_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "alerts.jsonl"
    notifier = make_notifier({"type": "log", "path": str(path), "name": "ops-log"})
    assert isinstance(notifier, LogFileNotifier) and notifier.name == "ops-log"
    notifier.send(ALERT)
    notifier.send(ALERT)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["statistic"] == "drift_share"


class TinySmtp:
    """A minimal SMTP server (enough for smtplib) that keeps the messages it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.messages: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, conn.makefile("rwb") as f:

            def say(line: str) -> None:
                f.write(line.encode() + b"\r\n")
                f.flush()

            say("220 tiny ESMTP")
            msg: dict[str, Any] = {"rcpt": []}
            while True:
                line = f.readline().decode().rstrip("\r\n")
                cmd = line.upper()
                if cmd.startswith(("EHLO", "HELO")):
                    say("250 tiny")
                elif cmd.startswith("MAIL FROM"):
                    msg["from"] = line.split(":", 1)[1].strip()
                    say("250 ok")
                elif cmd.startswith("RCPT TO"):
                    msg["rcpt"].append(line.split(":", 1)[1].strip())
                    say("250 ok")
                elif cmd == "DATA":
                    say("354 end with .")
                    data = []
                    while (part := f.readline().decode()) not in (".\r\n", ""):
                        data.append(part)
                    msg["data"] = "".join(data)
                    self.messages.append(msg)
                    say("250 queued")
                elif cmd == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("250 ok")

    def close(self) -> None:
        self.sock.close()


def test_smtp_notifier_sends_an_email() -> None:
    server = TinySmtp()
    try:
        SmtpNotifier(
            "127.0.0.1", server.port, sender="stackml@example.com", recipients=["ops@example.com"]
        ).send(ALERT)
        server.thread.join(5)
        (msg,) = server.messages
        assert msg["rcpt"] == ["<ops@example.com>"]
        assert "Subject: [stackml warning] wine: drift" in msg["data"]
        assert "drift_share" in msg["data"]
    finally:
        server.close()


def test_bad_notifier_configs_are_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        make_notifier({"type": "pager"})
    with pytest.raises(InvalidInput):
        make_notifier({"type": "log"})
    with pytest.raises(InvalidInput):
        make_notifier({"type": "smtp", "host": "x", "sender": "a", "recipients": []})
