-- mailbounce database schema, version 4: fewer indexes for the writer to
-- keep, and indexes set aside by a bulk load.
--
-- An ingest that is large next to what the database already holds (the
-- first ingest of weeks of archived logs, say) drops the indexes of
-- deliveries and rejects that only reports read, loads the rows, and
-- creates the indexes again at its end: one sort per index instead of a
-- random B-tree insert per row into each. The indexes it drops are
-- recorded here in the same transaction as the drop, with their
-- definitions as sqlite_master had them, so that an ingest that never
-- reached its end (a signal, a crash, a full disk) leaves the job to the
-- next mailbounce that opens the database: it creates every index listed
-- here (and deletes the row, in the same transaction) before it does
-- anything else. A report or `mailbounce tail` opened while a bulk load
-- runs does the same, between two of its batches; the load then goes on
-- with the indexes in place. See store/store.go (DeferIndexes,
-- RestoreIndexes).
--
-- Empty except while a bulk load runs or after one was interrupted.
CREATE TABLE deferred_indexes (
	name  TEXT PRIMARY KEY,   -- the index, as in sqlite_master.name
	sql   TEXT NOT NULL,      -- its CREATE INDEX statement, from sqlite_master.sql
	since INTEGER NOT NULL    -- when it was dropped, microseconds since the Unix epoch
);

-- messages_host_queue (host_id, queue_id, first_seen) found a message by
-- host and queue ID. messages_queue (queue_id), which version 5 adds for
-- stitching, finds it as well: a queue ID names one message on nearly
-- every host, and the few rows it names are sorted by first_seen in
-- passing. Each index on messages takes its rows in random order (queue
-- IDs are random), a seek and often a page split per message once it
-- outgrows the page cache: keeping one instead of two made ingest of a
-- 1 GB log markedly faster.
DROP INDEX IF EXISTS messages_host_queue;
