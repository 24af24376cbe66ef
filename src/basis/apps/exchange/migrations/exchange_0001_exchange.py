"""exchange: cities, categories (v6.0 seeded), listings, exchanges, chat, reviews, reports, bans

Revision ID: exchange_0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db
from basis.apps.exchange import categories_data
from basis.core.time import utcnow

revision = "exchange_0001"
down_revision = None
branch_labels = ("exchange",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "category_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_category_versions_version")),
    )
    op.create_table(
        "exchanges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("exchange_type", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("combination", sa.String(length=64), nullable=False),
        sa.Column("open_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchanges")),
        sa.UniqueConstraint("open_key", name=op.f("uq_exchanges_open_key")),
    )
    op.create_index(op.f("ix_exchanges_combination"), "exchanges", ["combination"], unique=False)
    op.create_index(op.f("ix_exchanges_created_at"), "exchanges", ["created_at"], unique=False)
    op.create_index(op.f("ix_exchanges_status"), "exchanges", ["status"], unique=False)
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.Column("emoji", sa.String(length=16), nullable=False),
        sa.Column("exchange_type", sa.String(length=10), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["category_versions.id"],
            name=op.f("fk_categories_version_id_category_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint(
            "version_id", "exchange_type", "slug", name=op.f("uq_categories_version_id_exchange_type_slug")
        ),
    )
    op.create_table(
        "exchange_bans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("banned_by", sa.Integer(), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ban_until", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["banned_by"], ["users.id"], name=op.f("fk_exchange_bans_banned_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_exchange_bans_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_bans")),
    )
    op.create_index(op.f("ix_exchange_bans_user_id"), "exchange_bans", ["user_id"], unique=False)
    op.create_table(
        "exchange_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_events_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_exchange_events_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_events")),
    )
    op.create_index(op.f("ix_exchange_events_exchange_id"), "exchange_events", ["exchange_id"], unique=False)
    op.create_table(
        "exchange_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.String(length=32), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("message_text", sa.Text(), nullable=False),
        sa.Column("message_type", sa.String(length=10), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_messages_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["users.id"], name=op.f("fk_exchange_messages_sender_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_messages")),
    )
    op.create_index(
        "ix_exchange_messages_exchange_id_id", "exchange_messages", ["exchange_id", "id"], unique=False
    )
    op.create_table(
        "exchange_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_exchange_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_notifications")),
    )
    op.create_index(
        "ix_exchange_notifications_user_id_id", "exchange_notifications", ["user_id", "id"], unique=False
    )
    op.create_table(
        "exchange_read_marks",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.String(length=32), nullable=False),
        sa.Column("last_read_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_read_marks_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_exchange_read_marks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "exchange_id", name=op.f("pk_exchange_read_marks")),
    )
    op.create_table(
        "exchange_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.String(length=32), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_exchange_reviews_author_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_reviews_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["users.id"], name=op.f("fk_exchange_reviews_target_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_reviews")),
        sa.UniqueConstraint(
            "exchange_id", "author_id", name=op.f("uq_exchange_reviews_exchange_id_author_id")
        ),
    )
    op.create_index(op.f("ix_exchange_reviews_author_id"), "exchange_reviews", ["author_id"], unique=False)
    op.create_index(op.f("ix_exchange_reviews_target_id"), "exchange_reviews", ["target_id"], unique=False)
    op.create_table(
        "exchange_user_cities",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("city", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_exchange_user_cities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "city", name=op.f("pk_exchange_user_cities")),
    )
    op.create_index(op.f("ix_exchange_user_cities_city"), "exchange_user_cities", ["city"], unique=False)
    op.create_table(
        "listings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_listings_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listings")),
    )
    op.create_index(op.f("ix_listings_user_id"), "listings", ["user_id"], unique=False)
    op.create_table(
        "matching_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope_user_id", sa.Integer(), nullable=True),
        sa.Column("started_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("bilateral_matches", sa.Integer(), nullable=False),
        sa.Column("chains_discovered", sa.Integer(), nullable=False),
        sa.Column("participants_notified", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_user_id"],
            ["users.id"],
            name=op.f("fk_matching_runs_scope_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_runs")),
    )
    op.create_index(op.f("ix_matching_runs_finished_at"), "matching_runs", ["finished_at"], unique=False)
    op.create_table(
        "listing_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("item_type", sa.String(length=5), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("exchange_type", sa.String(length=10), nullable=False),
        sa.Column("item_name", sa.String(length=100), nullable=False),
        sa.Column("value_tenge", sa.Integer(), nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("archived_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_listing_items_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_listing_items_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_items")),
    )
    op.create_index(
        "ix_listing_items_item_type_archived_at_created_at",
        "listing_items",
        ["item_type", "archived_at", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_listing_items_listing_id"), "listing_items", ["listing_id"], unique=False)
    op.create_index(
        "ix_listing_items_user_id_archived_at", "listing_items", ["user_id", "archived_at"], unique=False
    )
    op.create_table(
        "exchange_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("offer_item_id", sa.Integer(), nullable=False),
        sa.Column("want_item_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("decided_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("confirmed_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_participants_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_item_id"],
            ["listing_items.id"],
            name=op.f("fk_exchange_participants_offer_item_id_listing_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_exchange_participants_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["want_item_id"],
            ["listing_items.id"],
            name=op.f("fk_exchange_participants_want_item_id_listing_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_participants")),
        sa.UniqueConstraint(
            "exchange_id", "position", name=op.f("uq_exchange_participants_exchange_id_position")
        ),
        sa.UniqueConstraint(
            "exchange_id", "user_id", name=op.f("uq_exchange_participants_exchange_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_exchange_participants_offer_item_id"),
        "exchange_participants",
        ["offer_item_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_exchange_participants_user_id"), "exchange_participants", ["user_id"], unique=False
    )
    op.create_index(
        op.f("ix_exchange_participants_want_item_id"), "exchange_participants", ["want_item_id"], unique=False
    )
    op.create_table(
        "exchange_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("target_listing_id", sa.Integer(), nullable=True),
        sa.Column("target_user_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("evidence_urls", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("admin_notes", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolved_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.id"],
            name=op.f("fk_exchange_reports_reporter_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["users.id"],
            name=op.f("fk_exchange_reports_resolved_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["target_listing_id"],
            ["listing_items.id"],
            name=op.f("fk_exchange_reports_target_listing_id_listing_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_user_id"],
            ["users.id"],
            name=op.f("fk_exchange_reports_target_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_reports")),
    )
    op.create_index(
        op.f("ix_exchange_reports_reporter_id"), "exchange_reports", ["reporter_id"], unique=False
    )
    op.create_index(op.f("ix_exchange_reports_status"), "exchange_reports", ["status"], unique=False)

    _seed_categories()


def _seed_categories() -> None:
    """The shipped category set v6.0: seeded here, once, with the schema."""
    versions = sa.table(
        "category_versions",
        sa.column("id", sa.Integer),
        sa.column("version", sa.String),
        sa.column("description", sa.String),
        sa.column("is_active", sa.Boolean),
        sa.column("created_at", basis.core.db.UTCDateTime(timezone=True)),
    )
    categories = sa.table(
        "categories",
        sa.column("version_id", sa.Integer),
        sa.column("slug", sa.String),
        sa.column("name", sa.String),
        sa.column("group_name", sa.String),
        sa.column("emoji", sa.String),
        sa.column("exchange_type", sa.String),
        sa.column("sort_order", sa.Integer),
        sa.column("is_active", sa.Boolean),
    )
    op.bulk_insert(
        versions,
        [
            {
                "id": 1,
                "version": categories_data.VERSION,
                "description": categories_data.DESCRIPTION,
                "is_active": True,
                "created_at": utcnow(),
            }
        ],
    )
    op.bulk_insert(categories, [{"version_id": 1, **row} for row in categories_data.rows()])


def downgrade() -> None:
    # Tables only, children first: dropping an index MariaDB needs for a foreign key fails.
    op.drop_table("exchange_reports")
    op.drop_table("exchange_participants")
    op.drop_table("listing_items")
    op.drop_table("matching_runs")
    op.drop_table("listings")
    op.drop_table("exchange_user_cities")
    op.drop_table("exchange_reviews")
    op.drop_table("exchange_read_marks")
    op.drop_table("exchange_notifications")
    op.drop_table("exchange_messages")
    op.drop_table("exchange_events")
    op.drop_table("exchange_bans")
    op.drop_table("categories")
    op.drop_table("exchanges")
    op.drop_table("category_versions")
