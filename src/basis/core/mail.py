"""Outgoing mail: SMTP when configured; in development without SMTP, files in the data directory.

No log line ever holds a mail's body (it carries reset links and other tokens): a log line names
the recipients' count, the subject and, in development, the file the mail was written to. In
prod, a mail that cannot be sent (no SMTP configured, or SMTP refusing it) raises
:class:`MailError`, so the job that sends it is retried and then recorded as failed, and
``basis_mail_failures_total`` counts it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

import aiosmtplib
from prometheus_client import Counter

from basis.core.logging import get_logger
from basis.core.time import utcnow
from basis.settings import Settings

log = get_logger("basis.mail")

MAX_RECIPIENTS = 100

FAILURES = Counter("basis_mail_failures", "Mails that could not be sent", ["reason"])


class Mailer(Protocol):
    async def send(self, to: list[str], subject: str, text: str, html: str | None = None) -> None:
        """Deliver or raise; a job that sends mail is retried when this raises."""
        ...


class MailError(RuntimeError):
    pass


def _check(to: list[str], subject: str) -> None:
    if isinstance(to, str):
        raise TypeError("`to` is a list of addresses, not a string")
    if not to or len(to) > MAX_RECIPIENTS:
        raise ValueError(f"a mail needs 1 to {MAX_RECIPIENTS} recipients")
    for address in [*to, subject]:
        if "\r" in address or "\n" in address:
            raise ValueError("line breaks are not allowed in mail headers")
    for address in to:
        if "@" not in parseaddr(address)[1]:
            raise ValueError(f"not an e-mail address: {address!r}")


def build_message(sender: str, to: list[str], subject: str, text: str, html: str | None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


class SmtpMailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        tls: Literal["starttls", "tls", "none"] = "starttls",
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.tls = tls
        self.user = user
        self.password = password
        self.timeout = timeout
        # Without it aiosmtplib asks the resolver for our FQDN, which can stall on a bad DNS.
        self.local_hostname = local_hostname or "localhost"
        self.tls_context = tls_context

    async def send(self, to: list[str], subject: str, text: str, html: str | None = None) -> None:
        _check(to, subject)
        message = build_message(self.sender, to, subject, text, html)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.user,
                password=self.password if self.user else None,
                use_tls=self.tls == "tls",
                start_tls=self.tls == "starttls",
                timeout=self.timeout,
                local_hostname=self.local_hostname,
                tls_context=self.tls_context,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            FAILURES.labels("smtp").inc()
            log.warning("mail not sent", host=self.host, port=self.port, error=str(exc), recipients=len(to))
            raise MailError(f"SMTP delivery to {self.host}:{self.port} failed: {exc}") from exc
        log.info("mail sent", subject=subject, recipients=len(to))


class OutboxMailer:
    """Development: every mail becomes one ``.eml`` file in ``<data_dir>/outbox/`` (open it in a
    mail client) and one JSON line in ``<data_dir>/outbox/mail.jsonl`` (what tests and the dev
    console read). The log line names the file, never the body."""

    def __init__(self, path: Path, *, sender: str = "Basis <no-reply@localhost>") -> None:
        self.path = path
        self.sender = sender
        self._lock = asyncio.Lock()
        self._numbers = itertools.count(1)

    async def send(self, to: list[str], subject: str, text: str, html: str | None = None) -> None:
        _check(to, subject)
        now = utcnow()
        record = {"at": now.isoformat(), "to": list(to), "subject": subject, "text": text, "html": html}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        message = build_message(self.sender, to, subject, text, html)
        name = f"{now:%Y%m%dT%H%M%S%f}-{os.getpid()}-{next(self._numbers)}.eml"
        eml = self.path.parent / name
        async with self._lock:
            await asyncio.to_thread(self._write, line, eml, message.as_bytes())
        log.info("mail written to a file", file=str(eml), recipients=len(to))

    def _write(self, line: str, eml: Path, message: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line)
        with eml.open("xb") as file:  # never over another mail
            file.write(message)

    def files(self) -> list[Path]:
        """The ``.eml`` files written so far, oldest first."""
        return sorted(self.path.parent.glob("*.eml"))

    def read(self) -> list[dict[str, object]]:
        """Every mail written so far, oldest first (tests and the dev console)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


class UndeliverableMailer:
    """Prod without ``BASIS_SMTP_HOST``: every mail is an error (the job retries, then fails)."""

    async def send(self, to: list[str], subject: str, text: str, html: str | None = None) -> None:
        _check(to, subject)
        FAILURES.labels("no_smtp").inc()
        log.error("mail not sent: BASIS_SMTP_HOST is not set", recipients=len(to))
        raise MailError("mail cannot be sent: BASIS_SMTP_HOST is not set")


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            tls=settings.smtp_tls,
            user=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            local_hostname=urlsplit(settings.public_url).hostname,
        )
    if settings.env == "prod":
        log.warning("BASIS_SMTP_HOST is not set: every mail fails (the jobs sending them retry, then fail)")
        return UndeliverableMailer()
    return OutboxMailer(settings.data_dir / "outbox" / "mail.jsonl", sender=settings.smtp_from)
