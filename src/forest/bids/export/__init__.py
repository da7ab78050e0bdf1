"""Bulk exports of a bid search: CSV, JSON Lines, OCDS 1.1 release and record packages, streamed in constant memory.

An export reads the bids exactly as `GET /bids` does (`service.fetch_rows`: the same filters, the same
keyset, the same statement builder), a chunk at a time, each chunk its own short query from the position
after the last row of the one before. Nothing holds more than a few chunks, so a million rows cost what a
thousand do. Formatting a chunk is CPU work: it runs in a worker thread (at most `FORMAT_THREADS` at
once), so the event loop keeps serving other requests meanwhile. CSV on PostgreSQL is the exception: the
chunk's query returns the lines ready (`CSV_LINE`), and two chunks are read at once (`parallel_chunks`).

`model` holds the query and the planned export, `reading` the checks and the keyset reads, `encoders` and
`csv_format` the formats, `values` how values are written, `streaming` the body.
"""

from __future__ import annotations

from forest.bids.export.csv_format import CSV_COLUMNS, CSV_LINE
from forest.bids.export.model import MEDIA_TYPES, Export, ExportQuery, Format
from forest.bids.export.reading import prepare
from forest.bids.export.streaming import ENCODERS, encoder_for, stream
from forest.bids.export.values import money, neutralise, rfc3339

__all__ = ["CSV_COLUMNS", "CSV_LINE", "ENCODERS", "MEDIA_TYPES", "Export", "ExportQuery", "Format", "encoder_for",
           "money", "neutralise", "prepare", "rfc3339", "stream"]
