// Package parse turns mail server log lines into typed events.
//
// It knows the line formats of Postfix and Exim, in every envelope they are
// found in (BSD syslog, RFC 3339 syslog, journalctl, Postfix's own
// maillog_file, Exim's mainlog), SMTP reply codes (RFC 5321), enhanced status
// codes (RFC 3463) and the taxonomy of bounce reasons. It does no I/O and
// knows nothing of files or databases: a line goes in, an Event comes out.
//
// Parsing is two-stage: one envelope match (timestamp, host, program[pid]),
// then a switch on the program. Every test is a cheap prefix or byte search;
// no regular expression runs on the hot path.
package parse
