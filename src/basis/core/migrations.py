"""Alembic with one branch per part: ``core``, ``identity``, then one per enabled app."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, Table

from basis.core.apps import AppSpec, enabled_specs
from basis.core.db import Base, create_engine, normalise_url


def migrations_root() -> Path:
    import basis

    package = Path(basis.__file__).resolve().parent
    for candidate in (package.parents[1] / "migrations", package / "_migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("the migrations folder is missing from this installation")


CORE_BRANCHES = ("core", "identity")
CORE_MODELS = ("basis.core.models", "basis.identity.models")


def branch_dirs(specs: Sequence[AppSpec]) -> dict[str, Path]:
    root = migrations_root()
    dirs = {name: root / name for name in CORE_BRANCHES}
    for spec in specs:
        if spec.migrations_dir is not None:
            dirs[spec.name] = spec.migrations_dir
    return dirs


def import_models(specs: Sequence[AppSpec]) -> None:
    for module in (*CORE_MODELS, *(s.models_module for s in specs if s.models_module)):
        importlib.import_module(module)


def owned_tables(specs: Sequence[AppSpec]) -> set[str]:
    """Tables of the core and of the enabled apps (other apps' models may be imported too)."""
    import_models(specs)
    modules = (*CORE_MODELS, *(s.models_module for s in specs if s.models_module))
    packages = tuple(module.rsplit(".", 1)[0] + "." for module in modules)
    names = {"alembic_version"}
    for mapper in Base.registry.mappers:
        if mapper.class_.__module__.startswith(packages):
            names.update(t.name for t in mapper.tables)
    return names


def target_metadata(specs: Sequence[AppSpec]) -> MetaData:
    owned = owned_tables(specs)
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        if table.name in owned:
            table.to_metadata(metadata)
    return metadata


def _with_known(specs: Sequence[AppSpec], known: Sequence[AppSpec] | None) -> list[AppSpec]:
    # Alembic must see the revisions of every app, enabled or not: a database that once ran a
    # disabled app records that app's head, and resolving it needs the app's scripts. Only the
    # enabled branches are ever upgraded.
    if known is None:
        known = enabled_specs(None)
    merged = {spec.name: spec for spec in known}
    merged.update({spec.name: spec for spec in specs})
    return list(merged.values())


def alembic_config(
    database_url: str, specs: Sequence[AppSpec], known: Sequence[AppSpec] | None = None
) -> Config:
    root = migrations_root()
    cfg = Config()
    cfg.set_main_option("script_location", str(root))
    dirs = branch_dirs(_with_known(specs, known))
    cfg.set_main_option("version_locations", " ".join(str(d) for d in dirs.values()))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    cfg.attributes["specs"] = list(specs)
    return cfg


def upgrade(
    database_url: str,
    specs: Sequence[AppSpec],
    known: Sequence[AppSpec] | None = None,
    branches: Sequence[str] = (),
) -> None:
    """Every enabled branch to its head, or only ``branches`` (and what they depend on)."""
    cfg = alembic_config(database_url, specs, known)
    for name in branches or branch_dirs(specs):
        command.upgrade(cfg, f"{name}@head")


def downgrade(
    database_url: str, specs: Sequence[AppSpec], target: str, known: Sequence[AppSpec] | None = None
) -> None:
    command.downgrade(alembic_config(database_url, specs, known), target)


def history(database_url: str, specs: Sequence[AppSpec]) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(database_url, specs))
    return [
        f"{rev.revision} ({', '.join(sorted(rev.branch_labels)) or '-'}) {rev.doc}"
        for rev in script.walk_revisions()
    ]


async def _current_revisions(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:

            def read(sync_conn: Connection) -> set[str]:
                return set(MigrationContext.configure(sync_conn).get_current_heads())

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def status(
    database_url: str, specs: Sequence[AppSpec], known: Sequence[AppSpec] | None = None
) -> dict[str, tuple[str | None, str]]:
    """For each enabled branch: (the applied revision or None, the head revision)."""
    script = ScriptDirectory.from_config(alembic_config(database_url, specs, known))
    reached: set[str] = set()
    for rev in await _current_revisions(database_url):
        reached.update(r.revision for r in script.iterate_revisions(rev, "base"))
    result: dict[str, tuple[str | None, str]] = {}
    for name in branch_dirs(specs):
        head = script.get_revision(f"{name}@head")
        assert head is not None
        applied = next(
            (r.revision for r in script.iterate_revisions(head.revision, "base") if r.revision in reached),
            None,
        )
        result[name] = (applied, head.revision)
    return result


async def pending(
    database_url: str, specs: Sequence[AppSpec], known: Sequence[AppSpec] | None = None
) -> list[str]:
    """Enabled branches whose head the database has not reached."""
    return [
        name
        for name, (applied, head) in (await status(database_url, specs, known)).items()
        if applied != head
    ]


def table_names(metadata: MetaData) -> list[str]:
    return [t.name for t in metadata.sorted_tables if isinstance(t, Table)]
