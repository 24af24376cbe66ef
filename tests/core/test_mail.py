"""Mail: real SMTP delivery to a local aiosmtpd server (plain, STARTTLS, TLS, auth) and the outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import gc
import ipaddress
import re
import ssl
import warnings
from collections.abc import Callable, Iterator
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from basis.core.mail import MailError, OutboxMailer, SmtpMailer, build_mailer
from basis.settings import Settings
from tests.fixtures.auth import DEFAULT_PASSWORD
from tests.support.live import free_port

SENDER = "Basis <no-reply@basis.test>"
PROD_SECRETS: dict[str, Any] = {
    "jwt_secrets": ["Jw7#kQ2!pZ9@xL4$" * 3],
    "admin_session_secret": "Ad5%mN8^rT1&vB6*" * 3,
}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=default_policy)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


StartServer = Callable[..., tuple[Inbox, int]]


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[Inbox, int]:
        inbox, port = Inbox(), free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()
    controllers.clear()
    # A TLS session the server thread had not finished closing when its loop stopped is
    # collected here; that is the test server's leftover, not something the mailer leaked.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def mailer(port: int, **options: Any) -> SmtpMailer:
    return SmtpMailer(host="127.0.0.1", port=port, sender=SENDER, **{"tls": "none", **options})


async def test_plain_smtp_delivers_text_and_html(smtp_server: StartServer) -> None:
    inbox, port = smtp_server()
    await mailer(port).send(
        ["ala@example.com", "Bob <bob@example.com>"],
        "Zażółć: your code",
        "Code: 1234",
        "<p>Code: <b>1234</b></p>",
    )
    [(mail_from, rcpt, message)] = inbox.messages
    assert mail_from == "no-reply@basis.test"
    assert rcpt == ["ala@example.com", "bob@example.com"]
    assert message["Subject"] == "Zażółć: your code"
    assert message["From"] == SENDER
    assert message["Message-ID"]
    assert message.get_body(("plain",)).get_content().strip() == "Code: 1234"
    assert "<b>1234</b>" in message.get_body(("html",)).get_content()


async def test_auth_is_used_when_a_user_is_set(
    smtp_server: StartServer, certificate: tuple[Path, Path]
) -> None:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"basis", b"s3cret")
        return AuthResult(success=ok, handled=False)

    inbox, port = smtp_server(
        authenticator=authenticator,
        auth_required=True,
        tls_context=server_tls(certificate),
        require_starttls=True,
    )
    secure = {"tls": "starttls", "tls_context": client_tls(certificate)}
    await mailer(port, user="basis", password="s3cret", **secure).send(["a@example.com"], "hi", "text")
    assert len(inbox.messages) == 1
    with pytest.raises(MailError):
        await mailer(port, user="basis", password="wrong", **secure).send(["a@example.com"], "hi", "text")
    with pytest.raises(MailError):  # the server wants auth; without a user we must fail, not drop
        await mailer(port, **secure).send(["a@example.com"], "hi", "text")
    assert len(inbox.messages) == 1


async def test_starttls(smtp_server: StartServer, certificate: tuple[Path, Path]) -> None:
    inbox, port = smtp_server(tls_context=server_tls(certificate), require_starttls=True)
    secure = mailer(port, tls="starttls", tls_context=client_tls(certificate))
    await secure.send(["a@example.com"], "tls", "x")
    assert len(inbox.messages) == 1
    # An unverifiable certificate is a failure, never a silent downgrade.
    with pytest.raises(MailError):
        await mailer(port, tls="starttls").send(["a@example.com"], "tls", "x")


async def test_implicit_tls(smtp_server: StartServer, certificate: tuple[Path, Path]) -> None:
    inbox, port = smtp_server(ssl_context=server_tls(certificate))
    await mailer(port, tls="tls", tls_context=client_tls(certificate)).send(["a@example.com"], "tls", "x")
    assert len(inbox.messages) == 1


async def test_unreachable_or_silent_servers_raise_so_the_job_retries() -> None:
    with pytest.raises(MailError):
        await mailer(free_port()).send(["a@example.com"], "s", "t")

    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await done.wait()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(3):
            with pytest.raises(MailError):
                await mailer(port, timeout=0.5).send(["a@example.com"], "s", "t")
    finally:
        done.set()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ([], "s"),
        (["not-an-address"], "s"),
        (["a@example.com\r\nBcc: x@evil.test"], "s"),
        (["a@example.com"], "s\nBcc: x"),
    ],
)
async def test_bad_recipients_and_header_injection_are_refused(
    to: list[str], subject: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError):
        await OutboxMailer(tmp_path / "mail.jsonl").send(to, subject, "t")


async def test_outbox_appends_json_lines(tmp_path: Path) -> None:
    outbox = OutboxMailer(tmp_path / "outbox" / "mail.jsonl")
    await asyncio.gather(*(outbox.send([f"u{n}@example.com"], f"mail {n}", f"body {n}") for n in range(5)))
    await outbox.send(["x@example.com"], "html", "t", "<p>h</p>")
    mails = outbox.read()
    assert sorted(m["subject"] for m in mails[:5]) == [f"mail {n}" for n in range(5)]
    assert mails[-1] == {**mails[-1], "to": ["x@example.com"], "text": "t", "html": "<p>h</p>"}
    assert dt.datetime.fromisoformat(str(mails[-1]["at"])).tzinfo is not None


async def test_each_dev_mail_is_a_file_named_in_a_log_line_without_its_body(tmp_path: Path) -> None:
    secret_link = "https://basis.test/reset-password#token=abc123"
    outbox = OutboxMailer(tmp_path / "outbox" / "mail.jsonl")
    with structlog.testing.capture_logs() as logs:
        await outbox.send(["a@example.com"], "Reset", secret_link)
        await outbox.send(["b@example.com"], "Reset", secret_link + "2")
    first, second = outbox.files()
    parsed = email.message_from_bytes(first.read_bytes(), policy=default_policy)
    assert parsed["To"] == "a@example.com" and parsed["Subject"] == "Reset"
    assert parsed.get_content().strip() == secret_link
    assert "token=abc1232" in second.read_text()
    assert [entry["file"] for entry in logs] == [str(first), str(second)]
    assert secret_link not in repr(logs) and "abc123" not in repr(logs)


async def test_in_prod_without_smtp_a_mail_is_an_error_counted_and_never_logged(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    mailer = build_mailer(Settings(_env_file=None, data_dir=tmp_path, env="prod", **PROD_SECRETS))
    before = REGISTRY.get_sample_value("basis_mail_failures_total", {"reason": "no_smtp"}) or 0
    with structlog.testing.capture_logs() as logs, pytest.raises(MailError):
        await mailer.send(["a@example.com"], "Reset", "https://basis.test/reset-password#token=abc123")
    assert REGISTRY.get_sample_value("basis_mail_failures_total", {"reason": "no_smtp"}) == before + 1
    assert logs and "abc123" not in repr(logs)
    assert not (tmp_path / "outbox").exists()


def test_build_mailer_follows_settings(tmp_path: Path) -> None:
    outbox = build_mailer(Settings(_env_file=None, data_dir=tmp_path))
    assert isinstance(outbox, OutboxMailer)
    assert outbox.path == tmp_path / "outbox" / "mail.jsonl"
    smtp = build_mailer(
        Settings(
            _env_file=None,
            data_dir=tmp_path,
            smtp_host="mail.test",
            smtp_port=465,
            smtp_tls="tls",
            smtp_user="u",
            smtp_password="p",
            smtp_from="X <x@basis.test>",
        )
    )
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.host, smtp.port, smtp.tls, smtp.user, smtp.password, smtp.sender) == (
        "mail.test",
        465,
        "tls",
        "u",
        "p",
        "X <x@basis.test>",
    )


@pytest.mark.slow
async def test_a_whole_server_log_holds_none_of_the_tokens_a_run_issued(
    live_servers: Callable[..., Any], make_user: Any, tmp_path: Path
) -> None:
    """A reset mail, a HemoDay family invite, logins and a terminal key, on a real server that
    logs at DEBUG: the mail is a file the log names; no token of any kind is in the log. On each
    database: a driver's own DEBUG lines (aiosqlite's carry every statement's parameters) count."""
    admin = await make_user(role="admin", email="keeper@example.com")
    assert admin.email
    secrets: list[str] = []
    with live_servers(1, log_level="DEBUG") as (url,):
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            login = await http.post("/auth/login", json={"login": admin.email, "password": DEFAULT_PASSWORD})
            assert login.status_code == 200, login.text
            secrets += [login.json()["access_token"], *http.cookies.values()]
            staff = {"Authorization": f"Bearer {login.json()['access_token']}"}
            assert (await http.get("/auth/me", headers=staff)).status_code == 200
            terminal = await http.post("/api/terminals", json={"name": "Door"}, headers=staff)
            key = terminal.json()["api_key"]
            secrets.append(key)
            scan = {"uid": "04:99:00:01", "client_event_id": "log-check"}
            assert (
                await http.post("/api/terminal/scan", json=scan, headers={"X-Terminal-Key": key})
            ).status_code < 500

            reset = await http.post("/auth/password-reset/request", json={"email": admin.email})
            assert reset.status_code == 202
            outbox = Path(tmp_path / "data" / "outbox")
            for _ in range(200):
                if list(outbox.glob("*.eml")):
                    break
                await asyncio.sleep(0.05)
            [mail] = list(outbox.glob("*.eml"))
            body = email.message_from_bytes(mail.read_bytes(), policy=default_policy).get_body()
            reset_token = re.search(r"#token=([\w.~-]+)", body.get_content() if body else "")
            assert reset_token, mail.read_text()
            secrets.append(reset_token.group(1))
            confirmed = await http.post(
                "/auth/password-reset/confirm",
                json={"token": reset_token.group(1), "new_password": "a new long passphrase 7"},
            )
            assert confirmed.status_code < 300, confirmed.text

            parent = await http.post(
                "/api/v1/auth/register", json={"email": "mama@example.com", "password": "blood-diary-2026"}
            )
            assert parent.status_code == 201, parent.text
            code = parent.json()["invite_code"]
            joined = await http.post(
                "/api/v1/auth/join-family",
                json={"email": "gran@example.com", "password": "blood-diary-2026", "invite_code": code},
            )
            assert joined.status_code == 201, joined.text
            secrets += [code, parent.json()["access_token"], joined.json()["access_token"]]
            relogin = await http.post(
                "/auth/login", json={"login": admin.email, "password": "a new long passphrase 7"}
            )
            assert relogin.status_code == 200
            secrets += [relogin.json()["access_token"], *http.cookies.values()]
    log = "\n".join(path.read_text() for path in tmp_path.glob("server_*.log"))
    assert str(mail) in log  # the log names the file (and is verbose enough to tell)
    leaked = [secret for secret in secrets if secret and secret in log]
    assert not leaked, f"{len(leaked)} of {len(secrets)} tokens in the server log"
