-- mailbounce database schema, version 8: where reading the systemd journal
-- stopped, and which process follows a source.
--
-- `mailbounce ingest --journal` reads Postfix's and Exim's entries from the
-- systemd journal (journalctl), which has no files to fingerprint. Its
-- source row (path 'journal', or 'journal:DIR' for --journal-dir DIR) keeps
-- the cursor of the last entry committed, in the same transaction as the
-- rows made of it; the next run asks journalctl for the entries after it.
-- NULL for files.
ALTER TABLE sources ADD COLUMN cursor TEXT;

-- `mailbounce tail` marks the sources it follows ('tail HOST:PID') and
-- commits their last_read at least every few seconds, also when no line
-- comes: an ingest leaves a source that a live tail follows alone, since
-- the two would store its new lines twice. NULL for what ingest read.
ALTER TABLE sources ADD COLUMN reader TEXT;
