"""Identity's background jobs: mail leaves the request, so a reset request answers in constant time.

A reset mail carries a secret; job arguments travel through the queue (Redis) and job libraries
log them, so the text is sealed (Fernet, keys derived from the JWT secrets) and opened only by
the job that sends it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from basis.core.jobs import JobContext, job

if TYPE_CHECKING:
    from basis.settings import Settings

SEND_MAIL = "identity.send_mail"


def _sealer(settings: Settings) -> MultiFernet:
    keys = [
        Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"basis-identity-mail:" + secret.encode()).digest()))
        for secret in settings.signing_secrets
    ]
    return MultiFernet(keys)


def seal(settings: Settings, text: str) -> str:
    return _sealer(settings).encrypt(text.encode()).decode()


def unseal(settings: Settings, sealed: str) -> str:
    return _sealer(settings).decrypt(sealed.encode()).decode()


@job(SEND_MAIL, retries=5)
async def send_mail(ctx: JobContext, *, to: list[str], subject: str, sealed_text: str) -> None:
    try:
        text = unseal(ctx.settings, sealed_text)
    except InvalidToken:
        # Sealed under keys this process no longer has: retrying cannot help.
        return
    await ctx.mailer.send(to, subject, text)
