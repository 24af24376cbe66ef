"""HemoDay's reset link (rule 20) opens the core's page (``basis.identity.reset_page``): GET
``/reset-password`` is a form, it confirms at ``/auth/password-reset/confirm``, and without
script the form posts to ``/reset-password``. Nothing is left for HemoDay to serve; this router
stays empty so that the app's list of routers keeps its shape."""

from __future__ import annotations

from fastapi import APIRouter

page_router = APIRouter(tags=["hemoday"], include_in_schema=False)
