"""The test-only example app installed as a real plug-in: a distribution of its own whose
metadata declares it in the ``basis.apps`` entry-point group, exactly what ``pip install`` of
a separate app package would leave in site-packages. Nothing in src/ names it."""

from __future__ import annotations

import os
from pathlib import Path

EXAMPLE_ENTRY = "example = tests.example_app.app:spec"


def write_distribution(
    directory: Path, name: str = "basis-example", entries: tuple[str, ...] = (EXAMPLE_ENTRY,)
) -> Path:
    """Writes ``<name>-0.1.dist-info`` into ``directory`` (put it on ``sys.path``/``PYTHONPATH``)."""
    info = directory / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[basis.apps]\n" + "".join(f"{entry}\n" for entry in entries))
    return directory


def with_path(env: dict[str, str], directory: Path) -> dict[str, str]:
    """``env`` for a subprocess that also sees the distributions in ``directory``."""
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**env, "PYTHONPATH": os.pathsep.join([*paths, str(directory)])}
