"""Deliver alerts as a JSON ``POST`` to a webhook, with SSRF checks on every hop."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from stackml.errors import InvalidInput
from stackml.monitoring.notifiers.base import Notifier, NotifyError
from stackml.monitoring.notifiers.ssrf import Target, resolve_target

if TYPE_CHECKING:
    from stackml.monitoring.alerts import Alert

__all__ = ["WebhookNotifier", "post_json"]

MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._ip = target.ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._ip = target.ip

    def connect(self) -> None:
        raw = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def post_json(
    url: str,
    body: Any,
    *,
    allow_loopback: bool = False,
    allow_private: bool = False,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
) -> int:
    """POST ``body`` as JSON; follow up to three redirects, each re-checked. Returns the status.

    Raises ``InvalidInput`` for a refused target and :class:`NotifyError` for a failed delivery.
    """
    data = json.dumps(body).encode()
    method = "POST"
    for _ in range(MAX_REDIRECTS + 1):
        target = resolve_target(url, allow_loopback=allow_loopback, allow_private=allow_private)
        conn_cls = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
        conn = conn_cls(target, timeout)
        try:
            head = {
                "Content-Type": "application/json",
                "User-Agent": "stackml-monitor",
                **(headers or {}),
            }
            conn.request(method, target.path, body=data if method == "POST" else None, headers=head)
            response = conn.getresponse()
            response.read(65536)
            status, location = response.status, response.getheader("Location")
        except (OSError, http.client.HTTPException) as exc:
            raise NotifyError(f"webhook {target.host}:{target.port} failed: {exc}") from exc
        finally:
            conn.close()
        if status in REDIRECTS and location:
            url = urljoin(url, location)
            if status in (301, 302, 303):
                method = "GET"
            continue
        if status >= 400:
            raise NotifyError(f"webhook answered HTTP {status}")
        return status
    raise NotifyError(f"webhook redirected more than {MAX_REDIRECTS} times")


class WebhookNotifier(Notifier):
    """POST each alert as JSON to ``url``.

    The URL is checked when the notifier is made and again (with fresh resolution and the
    address pinned) on every delivery and redirect. ``allow_loopback`` / ``allow_private``
    open loopback or private destinations (for a receiver on the same host or network).
    """

    kind = "webhook"

    def __init__(
        self,
        url: str,
        *,
        name: str = "",
        allow_loopback: bool = False,
        allow_private: bool = False,
        timeout: float = 5.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name)
        resolve_target(url, allow_loopback=allow_loopback, allow_private=allow_private)
        self.url = url
        self.allow_loopback = allow_loopback
        self.allow_private = allow_private
        self.timeout = timeout
        self.headers = dict(headers or {})

    def send(self, alert: Alert) -> None:
        try:
            post_json(
                self.url,
                {"alert": asdict(alert)},
                allow_loopback=self.allow_loopback,
                allow_private=self.allow_private,
                timeout=self.timeout,
                headers=self.headers,
            )
        except InvalidInput as exc:
            raise NotifyError(str(exc)) from exc
