-- mailbounce database schema, version 9: which process follows a source.
--
-- `mailbounce tail` marks the sources it follows ('tail HOST:PID') and
-- commits their last_read at least every few seconds, also when no line
-- comes: an ingest leaves a source that a live tail follows alone, since
-- the two would store its new lines twice. NULL for what ingest read.
ALTER TABLE sources ADD COLUMN reader TEXT;
