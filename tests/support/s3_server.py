"""A real S3-compatible server for the storage tests: moto's S3, served over HTTP, behind
AWS Signature Version 4 checks.

moto stores and serves objects as S3 does, but it accepts any signature. A production S3
(AWS, MinIO) checks every request's signature, a presigned URL's expiry and the headers it
signs, and refuses a mismatch with 403 before it reads the body. This process does the same in
front of moto, from the SigV4 specification (written here, not borrowed from the client under
test), so the tests see what a real bucket would answer.

Run: ``python -m tests.support.s3_server --port N`` with S3_TEST_ACCESS_KEY and
S3_TEST_SECRET_KEY in the environment.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
MAX_EXPIRES = 7 * 24 * 3600

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _header(environ: dict[str, Any], name: str) -> str:
    if name == "content-type":
        value = environ.get("CONTENT_TYPE", "")
    elif name == "content-length":
        value = environ.get("CONTENT_LENGTH", "")
    else:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"), "")
    return re.sub(r"\s+", " ", str(value).strip())


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class SigV4Gate:
    """Lets through only requests signed with a known key, in time, over the headers they name."""

    def __init__(self, app: WsgiApp, credentials: dict[str, str]) -> None:
        self.app = app
        self.credentials = credentials

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self._refuse(start_response, Refused("AccessDenied", "Not served here"))
        try:
            self._check(environ)
        except Refused as refusal:
            return self._refuse(start_response, refusal)

        def one_server_header(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            # moto names itself and so does the dev server: strict HTTP parsers refuse two.
            return start_response(status, [(k, v) for k, v in headers if k.lower() != "server"], *args)

        return self.app(environ, one_server_header)

    def _check(self, environ: dict[str, Any]) -> None:
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        params = dict(query)
        if "X-Amz-Signature" in params:
            self._check_presigned(environ, query, params)
        elif environ.get("HTTP_AUTHORIZATION"):
            self._check_header_signed(environ, query)
        else:
            raise Refused("AccessDenied", "Anonymous access is refused")

    def _check_presigned(
        self, environ: dict[str, Any], query: list[tuple[str, str]], params: dict[str, str]
    ) -> None:
        if params.get("X-Amz-Algorithm") != ALGORITHM:
            raise Refused("AuthorizationQueryParametersError", "Unsupported algorithm")
        try:
            signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expires = int(params["X-Amz-Expires"])
        except (KeyError, ValueError):
            raise Refused("AuthorizationQueryParametersError", "Malformed date or expiry") from None
        if not 1 <= expires <= MAX_EXPIRES:
            raise Refused("AuthorizationQueryParametersError", "Expiry out of range")
        if datetime.now(UTC) > signed_at + timedelta(seconds=expires):
            raise Refused("AccessDenied", "Request has expired")
        rest = [(k, v) for k, v in query if k != "X-Amz-Signature"]
        self._verify(
            environ, params.get("X-Amz-Credential", ""), params["X-Amz-Date"],
            params.get("X-Amz-SignedHeaders", ""), rest, UNSIGNED, params["X-Amz-Signature"],
        )

    def _check_header_signed(self, environ: dict[str, Any], query: list[tuple[str, str]]) -> None:
        authorization = environ["HTTP_AUTHORIZATION"]
        if not authorization.startswith(ALGORITHM + " "):
            raise Refused("AccessDenied", "Unsupported authorization")
        parts = authorization[len(ALGORITHM) + 1 :].split(",")
        fields = dict(part.strip().split("=", 1) for part in parts if "=" in part)
        payload_hash = _header(environ, "x-amz-content-sha256")
        if payload_hash != UNSIGNED:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            if hashlib.sha256(body).hexdigest() != payload_hash:
                raise Refused("XAmzContentSHA256Mismatch", "The payload does not match its hash")
        self._verify(
            environ, fields.get("Credential", ""), _header(environ, "x-amz-date"),
            fields.get("SignedHeaders", ""), query, payload_hash, fields.get("Signature", ""),
        )

    def _verify(
        self, environ: dict[str, Any], credential: str, amz_date: str, signed_headers: str,
        query: list[tuple[str, str]], payload_hash: str, signature: str,
    ) -> None:
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise Refused("AuthorizationQueryParametersError", "Malformed credential")
        access_key, date, region, service, _ = parts
        secret = self.credentials.get(access_key)
        if secret is None:
            raise Refused("InvalidAccessKeyId", "The access key does not exist")
        names = signed_headers.split(";")
        if "host" not in names:
            raise Refused("AccessDenied", "The host header must be signed")
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        canonical = "\n".join([
            environ["REQUEST_METHOD"],
            raw_path.split("?", 1)[0],
            "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query)),
            "".join(f"{name}:{_header(environ, name)}\n" for name in names),
            signed_headers,
            payload_hash,
        ])
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        expected = hmac.new(
            _signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise Refused("SignatureDoesNotMatch", "The request signature does not match")

    @staticmethod
    def _refuse(start_response: StartResponse, refusal: Refused) -> list[bytes]:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{refusal.code}</Code><Message>{refusal.message}</Message></Error>"
        ).encode()
        status = "400 Bad Request" if refusal.code.endswith(("Error", "Mismatch")) else "403 Forbidden"
        start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    class Handler(MotoRequestHandler):
        # The dev server writes a response in many small pieces: without this, Nagle's algorithm
        # meets the client's delayed ACK and each request waits ~40 ms for nothing.
        disable_nagle_algorithm = True

    credentials = {os.environ["S3_TEST_ACCESS_KEY"]: os.environ["S3_TEST_SECRET_KEY"]}
    app = SigV4Gate(DomainDispatcherApplication(create_backend_app), credentials)
    run_simple("127.0.0.1", args.port, app, threaded=True, request_handler=Handler)


if __name__ == "__main__":
    main()
