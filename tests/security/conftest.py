"""Fixtures of the security suite: a real SMTP server that receives the mails of a test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.security.helpers import Mailbox
from tests.support.live import free_port


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.smtp_settings = {  # type: ignore[attr-defined]
        "smtp_host": "127.0.0.1",
        "smtp_port": controller.port,
        "smtp_tls": "none",
    }
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def smtp(mailbox: Mailbox) -> dict[str, Any]:
    """Settings overrides that send this test's mail to ``mailbox``."""
    return dict(mailbox.smtp_settings)  # type: ignore[attr-defined]
