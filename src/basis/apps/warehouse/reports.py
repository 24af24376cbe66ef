"""The stock report as JSON, CSV or XLSX: the same rows in each."""

from __future__ import annotations

import asyncio
import csv
import io
import pickle  # only for our own spool file, written and read back by this process
import tempfile
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from basis.apps.warehouse.stock import QUANTITY, STOCK_COLUMNS
from basis.apps.warehouse.types import as_number
from basis.core.spreadsheets import safe_cell

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


Chunks = AsyncIterator[Sequence[tuple[Any, ...]]]


def _json_items(rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    items = []
    for row in rows:
        item = dict(zip(STOCK_COLUMNS, row, strict=True))
        item["quantity"] = as_number(row[QUANTITY])
        items.append(item)
    return items


async def json_stream(chunks: Chunks) -> AsyncIterator[bytes]:
    """``{"items": [...]}``, written a chunk of rows at a time."""
    yield b'{"items":['
    first = True
    async for rows in chunks:
        if not rows:
            continue
        body = to_json(_json_items(rows))[1:-1]  # the list's items without its brackets
        yield body if first else b"," + body
        first = False
    yield b"]}"


async def json_text_stream(objects: AsyncIterator[list[str]]) -> AsyncIterator[bytes]:
    """``{"items": [...]}`` from rows the database wrote as JSON objects."""
    yield b'{"items":['
    first = True
    async for chunk in objects:
        if not chunk:
            continue
        body = ",".join(chunk).encode()
        yield body if first else b"," + body
        first = False
    yield b"]}"


def _csv_number(value: Decimal) -> str:
    # ';' as separator is what Excel in a decimal-comma locale reads; its numbers want the comma too.
    text = format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))
    return text.replace(".", ",")


def _csv_text(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    for row in rows:
        cells = [safe_cell(value) for value in row]
        cells[QUANTITY] = _csv_number(row[QUANTITY])
        writer.writerow(cells)
    return buffer.getvalue()


async def csv_stream(chunks: Chunks) -> AsyncIterator[bytes]:
    """The header (after a UTF-8 BOM), then the rows a chunk at a time."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerow(STOCK_COLUMNS)
    yield buffer.getvalue().encode("utf-8-sig")
    async for rows in chunks:
        yield _csv_text(rows).encode()


async def spooled(chunks: Chunks) -> Chunks:
    """``chunks`` read to their end into a temporary file first, then given back one by one,
    for a consumer slower than the database (openpyxl, in threads). asyncmy reads whatever the
    server sends whenever the event loop is free, without back-pressure: with the rows taken
    slowly it held them all in memory (580 MiB at 1M products). So each chunk is written here
    in the event loop itself (about 10 ms for 5,000 rows): the socket is not read meanwhile and
    the server waits. The file is this process's own, read back once."""
    with tempfile.TemporaryFile(prefix="basis-stock-") as spool:
        count = 0
        async for rows in chunks:
            pickle.dump(list(rows), spool, pickle.HIGHEST_PROTOCOL)
            count += 1
        spool.seek(0)
        for _ in range(count):
            yield await asyncio.to_thread(pickle.load, spool)


async def xlsx_file(chunks: Chunks, path: Path) -> None:
    """The rows as an XLSX file at ``path``. openpyxl's write-only sheet keeps its rows in a
    temporary file, not in memory; rows and the zip are written in a thread."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="Stock")
    sheet.append(list(STOCK_COLUMNS))
    async for rows in chunks:
        # In a thread: openpyxl takes tens of microseconds a row, too long for the event loop.
        await asyncio.to_thread(_append_rows, sheet, rows)
    await asyncio.to_thread(workbook.save, path)


def _append_rows(sheet: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    for row in rows:
        cells = [safe_cell(value) for value in row]
        cells[QUANTITY] = as_number(row[QUANTITY])
        sheet.append(cells)


async def file_stream(path: Path, chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
    """The file's bytes, then the file is gone."""
    try:
        handle = await asyncio.to_thread(path.open, "rb")
        with handle:
            while data := await asyncio.to_thread(handle.read, chunk):
                yield data
    finally:
        await asyncio.to_thread(path.unlink, True)
