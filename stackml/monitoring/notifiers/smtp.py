"""Send alerts by e-mail through an SMTP server (optional notifier)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING

from stackml.errors import InvalidInput
from stackml.monitoring.notifiers.base import Notifier, NotifyError

if TYPE_CHECKING:
    from stackml.monitoring.alerts import Alert

__all__ = ["SmtpNotifier"]


class SmtpNotifier(Notifier):
    """One plain-text e-mail per alert, via ``smtplib`` (STARTTLS and login optional)."""

    kind = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        recipients: list[str],
        name: str = "",
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(name)
        if not recipients or not all("@" in r for r in recipients) or "@" not in sender:
            raise InvalidInput("an e-mail notifier needs a sender and recipient addresses")
        self.host, self.port = host, int(port)
        self.sender, self.recipients = sender, list(recipients)
        self.starttls, self.username, self.password = starttls, username, password
        self.timeout = timeout

    def send(self, alert: Alert) -> None:
        msg = EmailMessage()
        msg["Subject"] = f"[stackml {alert.severity}] {alert.monitor}: {alert.rule}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(
            f"{alert.message}\n\nmonitor: {alert.monitor}\nrule: {alert.rule}\n"
            f"statistic: {alert.statistic}\nvalue: {alert.value}\nthreshold: {alert.threshold}\n"
        )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(
                f"cannot send alert e-mail via {self.host}:{self.port}: {exc}"
            ) from exc
