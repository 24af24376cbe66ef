"""Identity's own error kinds, on the core's hierarchy (translated to HTTP in core/errors)."""

from __future__ import annotations

from basis.core.errors import BasisError


class UnsupportedMediaType(BasisError):
    status_code = 415
    code = "unsupported_media_type"
    default_detail = "Unsupported content type"
