"""Admin panel views: categories, listing items, exchanges, bans (read-only: they change through
the API's rules), and the reports queue, resolved by a form submitted as POST that calls the
same moderation service as the API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from wtforms import SelectField, TextAreaField

from basis.apps.exchange import moderation
from basis.apps.exchange.models import Ban, Category, CategoryVersion, Exchange, ListingItem, Report
from basis.apps.exchange.schemas import ResolveRequest
from basis.core.admin import ReadOnlyView, ServiceView, auth_backend, clean
from basis.identity.events import Meta

CATEGORY = "Exchange"


class CategoryVersionAdmin(ReadOnlyView, model=CategoryVersion):
    name, name_plural, category, icon = (
        "Category version",
        "Category versions",
        CATEGORY,
        "fa-solid fa-code-branch",
    )
    column_list = [
        CategoryVersion.id,
        CategoryVersion.version,
        CategoryVersion.is_active,
        CategoryVersion.created_at,
    ]


class CategoryAdmin(ReadOnlyView, model=Category):
    name, name_plural, category, icon = "Category", "Categories", CATEGORY, "fa-solid fa-tags"
    column_list = [
        Category.id,
        Category.exchange_type,
        Category.sort_order,
        Category.emoji,
        Category.slug,
        Category.name,
        Category.group_name,
        Category.is_active,
    ]
    column_searchable_list = [Category.slug, Category.name]
    column_sortable_list = [Category.exchange_type, Category.sort_order, Category.slug]
    column_default_sort = [(Category.exchange_type, False), (Category.sort_order, False)]


class ListingItemAdmin(ReadOnlyView, model=ListingItem):
    name, name_plural, category, icon = "Listing item", "Listing items", CATEGORY, "fa-solid fa-list"
    column_list = [
        ListingItem.id,
        ListingItem.user_id,
        ListingItem.item_type,
        ListingItem.exchange_type,
        ListingItem.category,
        ListingItem.item_name,
        ListingItem.value_tenge,
        ListingItem.duration_days,
        ListingItem.created_at,
        ListingItem.archived_at,
    ]
    column_searchable_list = [ListingItem.item_name, ListingItem.category]
    column_sortable_list = [ListingItem.id, ListingItem.value_tenge, ListingItem.created_at]
    column_default_sort = [(ListingItem.id, True)]


class ExchangeAdmin(ReadOnlyView, model=Exchange):
    name, name_plural, category, icon = "Exchange", "Exchanges", CATEGORY, "fa-solid fa-right-left"
    column_list = [
        Exchange.id,
        Exchange.kind,
        Exchange.exchange_type,
        Exchange.status,
        Exchange.score,
        Exchange.created_at,
        Exchange.completed_at,
        Exchange.cancel_reason,
    ]
    column_sortable_list = [Exchange.created_at, Exchange.status, Exchange.score]
    column_default_sort = [(Exchange.created_at, True)]


class BanAdmin(ReadOnlyView, model=Ban):
    name, name_plural, category, icon = "Ban", "Bans", CATEGORY, "fa-solid fa-ban"
    column_list = [
        Ban.id,
        Ban.user_id,
        Ban.reason,
        Ban.banned_by,
        Ban.created_at,
        Ban.ban_until,
        Ban.lifted_at,
    ]
    column_default_sort = [(Ban.id, True)]


class ReportAdmin(ServiceView, model=Report):
    """The moderation queue: "Edit" on a report is its resolution (one POST per report)."""

    name, name_plural, category, icon = "Report", "Reports", CATEGORY, "fa-solid fa-flag"
    can_create = False
    can_delete = False
    column_list = [
        Report.id,
        Report.status,
        Report.reason,
        Report.reporter_id,
        Report.target_listing_id,
        Report.target_user_id,
        Report.created_at,
        Report.resolution,
        Report.resolved_at,
    ]
    column_searchable_list = [Report.reason, Report.status]
    column_sortable_list = [Report.id, Report.status, Report.created_at]
    column_default_sort = [(Report.status, False), (Report.created_at, False)]
    form_columns = [Report.resolution, Report.admin_notes]
    form_overrides = {"resolution": SelectField, "admin_notes": TextAreaField}
    form_args = {
        "resolution": {
            "choices": [(r, r) for r in ("dismissed", "user_warned", "listing_removed", "user_banned")],
        }
    }

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        resolution = self.validated(ResolveRequest, clean(data))
        backend = auth_backend(request)
        infra = backend.main_app.state.infra
        meta = Meta(
            ip=request.client.host if request.client else None, user_agent=request.headers.get("user-agent")
        )

        async def resolve(session: Any, row: Report, actor: Any) -> Report:
            done = await moderation.resolve(
                session,
                report_id=row.id,
                data=resolution,
                actor=actor,
                settings=backend.settings,
                infra=infra,
                meta=meta,
            )
            await session.commit()
            return done

        return await self.change_row(request, pk, resolve)


VIEWS = [ReportAdmin, ExchangeAdmin, ListingItemAdmin, BanAdmin, CategoryAdmin, CategoryVersionAdmin]
