// Package store owns mailbounce's SQLite database: the schema and its
// embedded migrations, the batched writer that ingest feeds, the input
// checkpoints, and the queries that reports run.
//
// It knows SQLite and nothing about log formats. Callers hand it plain row
// structs (Delivery, Reject, Message, Source) whose fields are strings,
// numbers and times; turning log lines into those rows is the job of package
// parse and of the ingest pipeline.
//
// One process writes through a single connection (SQLite allows one writer
// at a time anyway, and one connection lets prepared statements and the
// dictionary caches live across batches); reports read through a separate
// read-only pool, which WAL mode lets run while a writer commits.
//
// The schema is a public interface, documented in migrations/0001_init.sql:
// users query it with the sqlite3 shell, through the v_* views.
package store
