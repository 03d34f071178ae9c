"""The write path of the measurements context: group commit, from queued requests to events.

    writer             GroupCommitWriter: the task that forms groups and answers them
    queue              WriteQueue: requests waiting for the writer, bounded (Overloaded)
    group              WriteRequest and WriteOutcome, what the modules pass between them
    transaction        GroupTransaction: one group's statements in one transaction
    series             series ids, creating missing ones, the per-device quantity limit
    rows               the group's measurement rows and each request's counts and events
    latest             latest values per series and last-seen times per device
    rollups            per-minute and per-hour rollups kept current inside the transaction
    dialect            WriteDialect: the one seam between SQLite and PostgreSQL
    dialect_sqlite     integer times, lookups before inserts, the sqlite3 cursor
    dialect_postgresql datetimes, INSERT ... ON CONFLICT DO NOTHING RETURNING
    wal                SQLite's write-ahead log, synced once for many transactions
    fsync_thread       the thread that syncs committed groups before they are answered
    health             whether writes work now, and why not (what /readyz reports)
    announcer          events of answered groups, published on the bus in order

Imports run one way, with the data: the writer imports the transaction, which imports
series, rows, latest, rollups and the dialects; those import `dialect` (the protocol),
rows and group; nothing imports back up. Nothing outside app.telemetry imports these
modules: the context's door is app.telemetry (measurements.py for writes).
"""
