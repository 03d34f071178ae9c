"""The write path of the measurements context: group commit, from queued requests to events.

    writer        GroupCommitWriter: the request queue and the task that forms groups
    transaction   GroupTransaction: one group's statements in one transaction
    rows          the group's measurement rows, inserted once each, counts per request
    rollups       per-minute and per-hour rollups kept current inside the transaction
    wal           SQLite's write-ahead log, synced once for many transactions
    fsync_thread  the thread that syncs committed groups before they are answered
    announcer     events of answered groups, published on the bus in order

Nothing outside app.telemetry imports these modules; the context's door is
app.telemetry.measurements.
"""
