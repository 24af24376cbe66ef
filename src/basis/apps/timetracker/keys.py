"""Key material as values: terminal API keys (made once, stored only as a hash) and the phone
keys employees submit (RSA public keys, base64 DER, shown to admins by fingerprint).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from basis.apps.timetracker import exceptions as exc


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_terminal_key() -> str:
    return "tk_" + secrets.token_urlsafe(32)


def b64decode_any(value: str) -> bytes:
    """Standard or URL-safe base64, padding optional; ValueError when it is neither."""
    text = "".join(value.split())
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("not base64") from error


def parse_public_key(public_key_b64: str) -> str:
    """The key in canonical standard base64, or 422 when it is not an RSA SPKI (DER) key."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        der = b64decode_any(public_key_b64)
        key = load_der_public_key(der)
    except (ValueError, TypeError):
        raise exc.invalid_public_key() from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise exc.invalid_public_key("Only RSA keys are accepted (PKCS#1 v1.5, SHA-256 signatures)")
    if key.key_size < 2048:
        raise exc.invalid_public_key("RSA keys shorter than 2048 bits are refused")
    return base64.b64encode(der).decode()


def key_fingerprint(public_key_b64: str | None) -> str | None:
    if not public_key_b64:
        return None
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()
