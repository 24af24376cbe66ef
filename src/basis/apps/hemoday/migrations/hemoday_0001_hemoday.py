"""hemoday: families, members, the nine synced tables, uploads

Revision ID: hemoday_0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db

revision = "hemoday_0001"
down_revision = None
branch_labels = ("hemoday",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "hemoday_families",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("invite_code", sa.String(length=6), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("patient_name", sa.String(length=200), nullable=True),
        sa.Column("patient_birth_date", sa.Date(), nullable=True),
        sa.Column("patient_current_weight", sa.Double(), nullable=True),
        sa.Column("clock_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_hemoday_families_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hemoday_families")),
        sa.UniqueConstraint("invite_code", name=op.f("uq_hemoday_families_invite_code")),
    )
    op.create_index(op.f("ix_hemoday_families_owner_id"), "hemoday_families", ["owner_id"], unique=False)
    op.create_table(
        "hemoday_analyses",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("date", sa.String(length=40), nullable=False),
        sa.Column("template_name", sa.String(length=255), nullable=True),
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_analyses_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_hemoday_analyses")),
        sa.UniqueConstraint("family_id", "id", name="uq_hemoday_analyses_family_id_id"),
    )
    op.create_index(
        "ix_hemoday_analyses_family_id_changed_ms",
        "hemoday_analyses",
        ["family_id", "changed_ms"],
        unique=False,
    )
    op.create_table(
        "hemoday_analysis_items",
        sa.Column("analysis_id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("unit", sa.String(length=100), nullable=True),
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_analysis_items_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_hemoday_analysis_items")),
        sa.UniqueConstraint("family_id", "id", name="uq_hemoday_analysis_items_family_id_id"),
    )
    op.create_index(
        "ix_hemoday_analysis_items_family_id_changed_ms",
        "hemoday_analysis_items",
        ["family_id", "changed_ms"],
        unique=False,
    )
    op.create_table(
        "hemoday_analysis_template_items",
        sa.Column("template_id", basis.core.db.ExactString(length=64), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("unit", sa.String(length=100), nullable=True),
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_analysis_template_items_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_hemoday_analysis_template_items")),
        sa.UniqueConstraint("family_id", "id", name="uq_hemoday_analysis_template_items_family_id_id"),
    )
    op.create_index(
        "ix_hemoday_analysis_template_items_family_id_changed_ms",
        "hemoday_analysis_template_items",
        ["family_id", "changed_ms"],
        unique=False,
    )
    op.create_table(
        "hemoday_analysis_templates",
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_analysis_templates_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_hemoday_analysis_templates")),
        sa.UniqueConstraint("family_id", "id", name="uq_hemoday_analysis_templates_family_id_id"),
    )
    op.create_index(
        "ix_hemoday_analysis_templates_family_id_changed_ms",
        "hemoday_analysis_templates",
        ["family_id", "changed_ms"],
        unique=False,
    )
    op.create_table(
        "hemoday_chelator_types",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Double(), nullable=True),
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_chelator_types_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_hemoday_chelator_types")),
        sa.UniqueConstraint("family_id", "id", name="uq_hemoday_chelator_types_family_id_id"),
    )
    op.create_index(
        "ix_hemoday_chelator_types_family_id_changed_ms",
        "hemoday_chelator_types",
        ["family_id", "changed_ms"],
        unique=False,
    )
    op.create_table(
        "hemoday_component_types",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("icon_name", sa.String(length=100), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Double(), nullable=True),
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_component_types_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_hemoday_component_types")),
        sa.UniqueConstraint("family_id", "id", name="uq_hemoday_component_types_family_id_id"),
    )
    op.create_index(
        "ix_hemoday_component_types_family_id_changed_ms",
        "hemoday_component_types",
        ["family_id", "changed_ms"],
        unique=False,
    )
    op.create_table(
        "hemoday_documents",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=255), nullable=True),
        sa.Column("file_url", sa.String(length=1024), nullable=False),
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_documents_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_hemoday_documents")),
        sa.UniqueConstraint("family_id", "id", name="uq_hemoday_documents_family_id_id"),
    )
    op.create_index(
        "ix_hemoday_documents_family_id_changed_ms",
        "hemoday_documents",
        ["family_id", "changed_ms"],
        unique=False,
    )
    op.create_table(
        "hemoday_members",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("joined_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_members_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_hemoday_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_hemoday_members")),
        sa.UniqueConstraint("public_id", name=op.f("uq_hemoday_members_public_id")),
    )
    op.create_index(op.f("ix_hemoday_members_family_id"), "hemoday_members", ["family_id"], unique=False)
    op.create_table(
        "hemoday_reminders",
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("date", sa.String(length=40), nullable=False),
        sa.Column("time", sa.String(length=5), nullable=False),
        sa.Column("repeat", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("last_sent_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_reminders_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_hemoday_reminders")),
        sa.UniqueConstraint("family_id", "id", name="uq_hemoday_reminders_family_id_id"),
    )
    op.create_index(
        "ix_hemoday_reminders_family_id_changed_ms",
        "hemoday_reminders",
        ["family_id", "changed_ms"],
        unique=False,
    )
    op.create_table(
        "hemoday_transfusions",
        sa.Column("date", sa.String(length=40), nullable=False),
        sa.Column("component", sa.String(length=255), nullable=True),
        sa.Column("volume", sa.Double(), nullable=False),
        sa.Column("weight", sa.Double(), nullable=False),
        sa.Column("volume_per_kg", sa.Double(), nullable=True),
        sa.Column("hb_before", sa.Double(), nullable=True),
        sa.Column("hb_after", sa.Double(), nullable=True),
        sa.Column("delta_hb", sa.Double(), nullable=True),
        sa.Column("chelator", sa.String(length=255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", basis.core.db.ExactString(length=64), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", basis.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_transfusions_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_hemoday_transfusions")),
        sa.UniqueConstraint("family_id", "id", name="uq_hemoday_transfusions_family_id_id"),
    )
    op.create_index(
        "ix_hemoday_transfusions_family_id_changed_ms",
        "hemoday_transfusions",
        ["family_id", "changed_ms"],
        unique=False,
    )
    op.create_table(
        "hemoday_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["hemoday_families.id"],
            name=op.f("fk_hemoday_uploads_family_id_hemoday_families"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_hemoday_uploads_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hemoday_uploads")),
        sa.UniqueConstraint("key", name=op.f("uq_hemoday_uploads_key")),
    )
    op.create_index(op.f("ix_hemoday_uploads_family_id"), "hemoday_uploads", ["family_id"], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop one a foreign key needs first.
    op.drop_table("hemoday_uploads")
    op.drop_table("hemoday_transfusions")
    op.drop_table("hemoday_reminders")
    op.drop_table("hemoday_members")
    op.drop_table("hemoday_documents")
    op.drop_table("hemoday_component_types")
    op.drop_table("hemoday_chelator_types")
    op.drop_table("hemoday_analysis_templates")
    op.drop_table("hemoday_analysis_template_items")
    op.drop_table("hemoday_analysis_items")
    op.drop_table("hemoday_analyses")
    op.drop_table("hemoday_families")
