-- mailbounce database schema, version 8: where reading the systemd journal
-- stopped.
--
-- `mailbounce ingest --journal` reads Postfix's and Exim's entries from the
-- systemd journal (journalctl), which has no files to fingerprint. Its
-- source row (path 'journal', or 'journal:DIR' for --journal-dir DIR) keeps
-- the cursor of the last entry committed, in the same transaction as the
-- rows made of it; the next run asks journalctl for the entries after it.
-- NULL for files.
ALTER TABLE sources ADD COLUMN cursor TEXT;
