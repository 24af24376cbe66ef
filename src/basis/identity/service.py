"""The names ``identity/admin.py`` still reads through ``service.``; everything else imports the
module that holds the concept (``events``, ``sessions``, ``login``, ``users``, ``profile``,
``reset``). Remove this file once admin.py imports those modules directly.
"""

from basis.identity.events import Meta, audit
from basis.identity.login import ADMIN_PANEL_HOURS, admin_panel_login, admin_panel_user
from basis.identity.sessions import revoke_all_sessions, revoke_families
from basis.identity.users import create_user, deactivate_user, update_user

__all__ = [
    "ADMIN_PANEL_HOURS",
    "Meta",
    "admin_panel_login",
    "admin_panel_user",
    "audit",
    "create_user",
    "deactivate_user",
    "revoke_all_sessions",
    "revoke_families",
    "update_user",
]
