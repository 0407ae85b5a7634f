-- mailbounce database schema, version 7: message ids that a writer has
-- handed out, for other writers to skip.
--
-- A writer gives a message its id when it sees the message's first line,
-- and writes the message's row when the message leaves the queue, often in
-- a later transaction. Until then the id is in no row, and a second writer
-- on the same database (`mailbounce tail` while `mailbounce ingest` loads
-- archived logs) that took the highest stored id plus one would hand out
-- the same id again. Each writer's transaction that handed out ids records
-- the next free one here (name 'messages'); a writer starts from the higher
-- of this and the highest stored id plus one.
CREATE TABLE id_counters (
	name TEXT PRIMARY KEY,    -- 'messages'
	next INTEGER NOT NULL     -- the lowest id not yet handed out
) WITHOUT ROWID;
