"""Admin panel views: families and members, read-only and without medical values (an operator
sees who is where and how much each family keeps, never a patient's records)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import undefer
from starlette.requests import Request

from basis.apps.hemoday.models import COUNTS, Family, FamilyEvent, Member
from basis.core.admin import ReadOnlyView

CATEGORY = "HemoDay"


class FamilyAdmin(ReadOnlyView, model=Family):
    name_plural = "Families"
    category = CATEGORY
    icon = "fa-solid fa-people-roof"
    column_list = [Family.id, Family.invite_code, Family.owner_id, Family.created_at, *COUNTS]
    column_details_list = column_list
    column_labels = {
        "member_count": "Members",
        "transfusion_count": "Transfusions",
        "analysis_count": "Analyses",
        "reminder_count": "Reminders",
        "upload_count": "Files",
    }
    column_searchable_list = [Family.id, Family.invite_code]
    column_sortable_list = [Family.created_at]
    column_default_sort = [(Family.created_at, True)]

    def list_query(self, request: Request) -> Select[Any]:
        return select(Family).options(*(undefer(getattr(Family, name)) for name in COUNTS))

    def details_query(self, request: Request) -> Select[Any]:
        return super().details_query(request).options(*(undefer(getattr(Family, name)) for name in COUNTS))


class MemberAdmin(ReadOnlyView, model=Member):
    name_plural = "Family members"
    category = CATEGORY
    icon = "fa-solid fa-user-group"
    column_list = [Member.user_id, Member.public_id, Member.family_id, Member.role, Member.joined_at]
    column_details_list = column_list
    column_searchable_list = [Member.family_id, Member.public_id]
    column_sortable_list = [Member.joined_at, Member.user_id]


class FamilyEventAdmin(ReadOnlyView, model=FamilyEvent):
    name = "Family event"
    name_plural = "Family events"
    category = CATEGORY
    icon = "fa-solid fa-clock-rotate-left"
    column_list = [
        FamilyEvent.created_at,
        FamilyEvent.family_id,
        FamilyEvent.actor,
        FamilyEvent.action,
        FamilyEvent.entity_id,
        FamilyEvent.after,
    ]
    column_labels = {FamilyEvent.entity_id: "Member (user id)"}
    column_searchable_list = [FamilyEvent.family_id, FamilyEvent.actor, FamilyEvent.action]
    column_sortable_list = [FamilyEvent.created_at]
    column_default_sort = [(FamilyEvent.created_at, True)]


VIEWS = [FamilyAdmin, MemberAdmin, FamilyEventAdmin]
