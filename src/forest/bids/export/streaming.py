"""The export's body: the encoder for its format, fed chunk by chunk with one chunk read ahead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio

from forest.bids.export.csv_format import CsvEncoder, SqlCsvEncoder
from forest.bids.export.encoders import Encoder, JsonlEncoder, OcdsEncoder, OcdsRecordsEncoder
from forest.bids.export.model import Export
from forest.bids.export.reading import chunks, parallel_chunks

FORMAT_THREADS = 2
_format_limiter = anyio.CapacityLimiter(FORMAT_THREADS)

ENCODERS: dict[str, Callable[[Export], Encoder]] = {"csv": CsvEncoder, "jsonl": JsonlEncoder, "ocds": OcdsEncoder,
                                                   "ocds-records": OcdsRecordsEncoder}


def encoder_for(export: Export) -> Encoder:
    """The encoder of the export's format; CSV lines come from PostgreSQL itself there."""
    if export.format == "csv" and export.db.engine.dialect.name == "postgresql":
        return SqlCsvEncoder(export)
    return ENCODERS[export.format](export)


async def stream(export: Export, on_rows: Callable[[int], None] | None = None) -> AsyncIterator[bytes]:
    """The export's body, chunk by chunk; `on_rows(n)` is told of each chunk's rows (a progress bar)."""
    encoder = encoder_for(export)
    yield encoder.head()
    source = (parallel_chunks if encoder.in_database else chunks)(export, encoder.columns)
    # One chunk ahead: the database reads the next chunk while this one is formatted and sent.
    ahead: asyncio.Future[list[Any]] = asyncio.ensure_future(anext(source))
    try:
        while True:
            try:
                rows = await ahead
            except StopAsyncIteration:
                break
            ahead = asyncio.ensure_future(anext(source))
            if encoder.in_database:
                yield encoder.chunk(rows, {})
            else:
                details = await encoder.lookup(rows)
                yield await anyio.to_thread.run_sync(encoder.chunk, rows, details, limiter=_format_limiter)
            if on_rows is not None:
                on_rows(len(rows))
    finally:
        if not ahead.done():
            ahead.cancel()  # the client went away: stop reading
            await asyncio.wait([ahead])
        await source.aclose()
    yield encoder.tail()
