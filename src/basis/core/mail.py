"""Outgoing mail: SMTP when configured, else a development outbox file."""

from __future__ import annotations

import asyncio
import json
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

import aiosmtplib

from basis.core.logging import get_logger
from basis.core.time import utcnow
from basis.settings import Settings

log = get_logger("basis.mail")

MAX_RECIPIENTS = 100


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
            log.warning("mail not sent", host=self.host, port=self.port, error=str(exc), recipients=len(to))
            raise MailError(f"SMTP delivery to {self.host}:{self.port} failed: {exc}") from exc
        log.info("mail sent", subject=subject, recipients=len(to))


class OutboxMailer:
    """Development: every mail becomes one JSON line in ``<data_dir>/outbox/mail.jsonl``."""

    def __init__(self, path: Path, *, log_body: bool = True) -> None:
        self.path = path
        self.log_body = log_body
        self._lock = asyncio.Lock()

    async def send(self, to: list[str], subject: str, text: str, html: str | None = None) -> None:
        _check(to, subject)
        record = {"at": utcnow().isoformat(), "to": list(to), "subject": subject, "text": text, "html": html}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)
        if self.log_body:
            log.info("mail written to the outbox", to=to, subject=subject, text=text, outbox=str(self.path))
        else:
            log.info("mail written to the outbox", to=to, subject=subject, outbox=str(self.path))

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line)

    def read(self) -> list[dict[str, object]]:
        """Every mail written so far, oldest first (tests and the dev console)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


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
    prod = settings.env == "prod"
    if prod:
        log.warning("BASIS_SMTP_HOST is not set: mail goes to the outbox file, nobody receives it")
    return OutboxMailer(settings.data_dir / "outbox" / "mail.jsonl", log_body=not prod)
