package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"mailbounce/parse"
	"mailbounce/store"
)

// runTrace prints every event of the messages matching a queue ID, a
// Message-ID, an address or the ID a receiving server gave (remote ID), in
// time order across files and hosts, with the path the message took
// through our hosts, each reply explained and each recipient's final
// outcome: what exigrep and Postfix's collate.pl do, from the database.
func runTrace(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "trace", "[flags] QUEUE-ID|MESSAGE-ID|ADDRESS|REMOTE-ID")
	dbPath := fs.String("db", defaultDB(e), "database file (env MAILBOUNCE_DB)")
	since := fs.String("since", "", "only messages with attempts from then on (2026-11-28, RFC 3339, 24h, 7d)")
	until := fs.String("until", "", "only messages with attempts before then")
	format := fs.StringP("format", "f", "text", "text or json")
	tz := fs.String("tz", "", "time zone for the times shown (default: local)")
	limit := fs.Int("limit", 100, "at most this many messages")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("name one queue ID, Message-ID, address or remote ID")
	}
	if *limit < 1 {
		return usageError("--limit %d: want 1 or more", *limit)
	}
	if *format != "text" && *format != "json" {
		return usageError("--format %q: want text or json", *format)
	}
	loc, err := loadLocation(*tz)
	if err != nil {
		return err
	}
	win, err := parseWindow(windowFlags{since: *since, until: *until}, time.Now(), loc)
	if err != nil {
		return usageError("%v", err)
	}
	if _, err := os.Stat(*dbPath); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("database %s does not exist: run 'mailbounce ingest --db %s LOGS' first", *dbPath, *dbPath)
	}
	db, err := store.Open(ctx, *dbPath, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	tr, err := traceQuery(ctx, db.Reader(), fs.Arg(0), win, *limit)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	if len(tr.Messages) == 0 && len(tr.Events) == 0 {
		return &statusError{status: exitError, err: fmt.Errorf("nothing found for %q", fs.Arg(0))}
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // addresses read better as <a@b>; this is not HTML
		return enc.Encode(tr)
	}
	tr.text(e, loc)
	return nil
}

type traceMessage struct {
	id            int64
	Host          string `json:"host,omitempty"`
	QueueID       string `json:"queue_id"`
	MessageID     string `json:"message_id,omitempty"`
	Sender        string `json:"sender"`
	Client        string `json:"client,omitempty"`
	Size          int64  `json:"size,omitempty"`
	NRcpt         int64  `json:"nrcpt,omitempty"`
	NextQueueID   string `json:"next_queue_id,omitempty"`
	ParentQueueID string `json:"parent_queue_id,omitempty"`
}

type traceEvent struct {
	Time        time.Time `json:"time"`
	Host        string    `json:"host,omitempty"`
	QueueID     string    `json:"queue_id,omitempty"`
	Kind        string    `json:"kind"` // arrived, delivered, deferred, bounced, expired, hop, removed, rejected
	Recipient   string    `json:"recipient,omitempty"`
	Relay       string    `json:"relay,omitempty"`
	Delay       *float64  `json:"delay,omitempty"`
	Code        int       `json:"code,omitempty"`
	Enhanced    string    `json:"enhanced,omitempty"`
	Reply       string    `json:"reply,omitempty"`
	RemoteID    string    `json:"remote_id,omitempty"`   // the ID the receiving server gave
	RemoteName  string    `json:"remote_name,omitempty"` // its own name, where the reply says
	Reason      string    `json:"reason,omitempty"`
	Explanation string    `json:"explanation,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	messageRef  int64
	final       bool
}

type traceOutcome struct {
	QueueID   string    `json:"queue_id"`
	Recipient string    `json:"recipient"`
	Outcome   string    `json:"outcome"` // delivered, bounced, expired, waiting, hop
	Time      time.Time `json:"time"`
	Detail    string    `json:"detail,omitempty"`
}

// traceHop is one hand-over between two of the traced messages: a
// content filter's re-queue, a local forward, or one of our hosts handing
// the message to another whose log is in the database too.
type traceHop struct {
	Time        time.Time `json:"time"`
	FromHost    string    `json:"from_host,omitempty"`
	FromQueueID string    `json:"from_queue_id"`
	ToHost      string    `json:"to_host,omitempty"`
	ToQueueID   string    `json:"to_queue_id"`
	Relay       string    `json:"relay,omitempty"`
	Recipients  []string  `json:"recipients"`
	from, to    int64
}

type trace struct {
	Query    string         `json:"query"`
	Messages []traceMessage `json:"messages"`
	Path     []traceHop     `json:"path"`
	Events   []traceEvent   `json:"events"`
	Outcomes []traceOutcome `json:"outcomes"`
	// Limited is set when --limit stopped the trace before every message
	// found was shown.
	Limited bool `json:"limited,omitempty"`
}

// traceQuery finds the messages and follows their content-filter and
// bounce links on the same host. Queue IDs, Message-IDs and addresses are
// in no index: the lookups scan messages and deliveries.
func traceQuery(ctx context.Context, db *sql.DB, query string, win window, limit int) (*trace, error) {
	tr := &trace{Query: query, Messages: []traceMessage{}, Path: []traceHop{}, Events: []traceEvent{}, Outcomes: []traceOutcome{}}
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !win.since.IsZero() {
		lo = win.since.UnixMicro()
	}
	if !win.until.IsZero() {
		hi = win.until.UnixMicro()
	}
	q := strings.Trim(query, "<>")
	var ids []int64
	collect := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	}
	// An address, or a Message-ID (which has an @ too): both are looked
	// for, with or without <>.
	isAddress := strings.Contains(q, "@") && !strings.ContainsAny(q, " ")
	if err := collect(db.QueryContext(ctx, `SELECT id FROM messages WHERE (queue_id = ? OR message_id = ?)
		AND coalesce(last_seen, first_seen, 0) >= ? AND coalesce(first_seen, 0) < ?`, q, q, lo, hi)); err != nil {
		return nil, err
	}
	// The ID a receiving server gave: ours (the message it became is
	// found through message_links below) or a provider's.
	if err := collect(db.QueryContext(ctx, `SELECT DISTINCT message_ref FROM deliveries
		WHERE remote_id = ? AND message_ref IS NOT NULL AND time >= ? AND time < ?`, q, lo, hi)); err != nil {
		return nil, err
	}
	if isAddress {
		if err := collect(db.QueryContext(ctx, `SELECT DISTINCT message_ref FROM deliveries
			WHERE (recipient = ? COLLATE NOCASE OR orig_recipient = ? COLLATE NOCASE) AND message_ref IS NOT NULL AND time >= ? AND time < ?`, q, q, lo, hi)); err != nil {
			return nil, err
		}
		if err := collect(db.QueryContext(ctx, `SELECT id FROM messages WHERE sender = ? COLLATE NOCASE
			AND coalesce(last_seen, first_seen, 0) >= ? AND coalesce(first_seen, 0) < ?`, q, lo, hi)); err != nil {
			return nil, err
		}
	}
	// Follow the stitched links (any host), and next_queue_id and
	// parent_queue_id on the same host.
	seen := make(map[int64]bool)
	for len(ids) > 0 && len(seen) < limit {
		id := ids[0]
		ids = ids[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		var m traceMessage
		var hostID sql.NullInt64
		var host, mid, sender, client, next, parent sql.NullString
		var size, nrcpt sql.NullInt64
		err := db.QueryRowContext(ctx, `SELECT m.id, m.host_id, h.name, m.queue_id, m.message_id, m.sender, m.client, m.size, m.nrcpt,
			m.next_queue_id, m.parent_queue_id FROM messages m LEFT JOIN hosts h ON h.id = m.host_id WHERE m.id = ?`, id).
			Scan(&m.id, &hostID, &host, &m.QueueID, &mid, &sender, &client, &size, &nrcpt, &next, &parent)
		if err != nil {
			return nil, err
		}
		m.Host, m.MessageID, m.Sender, m.Client = host.String, mid.String, sender.String, client.String
		m.Size, m.NRcpt, m.NextQueueID, m.ParentQueueID = size.Int64, nrcpt.Int64, next.String, parent.String
		tr.Messages = append(tr.Messages, m)
		for _, linked := range []string{next.String, parent.String} {
			if linked == "" {
				continue
			}
			if err := collect(db.QueryContext(ctx, `SELECT id FROM messages WHERE queue_id = ? AND host_id IS ?`, linked, hostID)); err != nil {
				return nil, err
			}
		}
		// Messages that name this one as their origin (a bounce notice, the
		// re-queued copy of a content-filter hop).
		if err := collect(db.QueryContext(ctx, `SELECT id FROM messages WHERE parent_queue_id = ? AND host_id IS ?`, m.QueueID, hostID)); err != nil {
			return nil, err
		}
		// Hand-overs stitched to other messages, on any host, both ways.
		if err := collect(db.QueryContext(ctx, `SELECT to_ref FROM message_links WHERE from_ref = ?
			UNION SELECT from_ref FROM message_links WHERE to_ref = ? AND from_ref IS NOT NULL`, id, id)); err != nil {
			return nil, err
		}
		// Deliveries that created a new queue ID (hops, forwards).
		if err := collect(db.QueryContext(ctx, `SELECT m2.id FROM deliveries d JOIN messages m2 ON m2.queue_id = d.next_queue_id AND m2.host_id IS d.host_id
			WHERE d.message_ref = ? AND d.next_queue_id IS NOT NULL`, id)); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		if !seen[id] {
			tr.Limited = true
			break
		}
	}
	for i := range tr.Messages {
		if err := tr.load(ctx, db, &tr.Messages[i]); err != nil {
			return nil, err
		}
	}
	if isAddress || len(tr.Messages) > 0 {
		if err := tr.rejects(ctx, db, q, isAddress, lo, hi); err != nil {
			return nil, err
		}
	}
	if err := tr.path(ctx, db); err != nil {
		return nil, err
	}
	// Logs have whole seconds: within one, a message's upstream legs come
	// first.
	depth := make(map[int64]int)
	for range tr.Path {
		for _, h := range tr.Path {
			depth[h.to] = max(depth[h.to], depth[h.from]+1)
		}
	}
	sort.SliceStable(tr.Events, func(i, j int) bool {
		a, b := tr.Events[i], tr.Events[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return depth[a.messageRef] < depth[b.messageRef]
	})
	tr.outcomes()
	return tr, nil
}

// path lists the hand-overs between the traced messages, in time order.
func (tr *trace) path(ctx context.Context, db *sql.DB) error {
	byID := make(map[int64]*traceMessage, len(tr.Messages))
	ids := make([]string, 0, len(tr.Messages))
	for i := range tr.Messages {
		byID[tr.Messages[i].id] = &tr.Messages[i]
		ids = append(ids, strconv.FormatInt(tr.Messages[i].id, 10))
	}
	if len(ids) == 0 {
		return nil
	}
	// ids are integers from the database, not user input.
	rows, err := db.QueryContext(ctx, `SELECT l.from_ref, l.to_ref, min(d.time), ifnull(r.name, ''), group_concat(d.recipient, char(10))
		FROM message_links l JOIN deliveries d ON d.id = l.delivery_id LEFT JOIN relays r ON r.id = d.relay_id
		WHERE l.to_ref IN (`+strings.Join(ids, ",")+`) AND l.from_ref IN (`+strings.Join(ids, ",")+`)
		GROUP BY l.from_ref, l.to_ref ORDER BY min(d.time), l.to_ref`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h traceHop
		var t int64
		var rcpts string
		if err := rows.Scan(&h.from, &h.to, &t, &h.Relay, &rcpts); err != nil {
			return err
		}
		from, to := byID[h.from], byID[h.to]
		h.Time, h.FromHost, h.FromQueueID, h.ToHost, h.ToQueueID = store.FromMicros(t), from.Host, from.QueueID, to.Host, to.QueueID
		h.Recipients = strings.Split(rcpts, "\n")
		sort.Strings(h.Recipients)
		tr.Path = append(tr.Path, h)
	}
	return rows.Err()
}

func (tr *trace) load(ctx context.Context, db *sql.DB, m *traceMessage) error {
	var first, removed sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT first_seen, removed_at FROM messages WHERE id = ?`, m.id).Scan(&first, &removed); err != nil {
		return err
	}
	if first.Valid {
		detail := fmt.Sprintf("from=<%s>", m.Sender)
		if m.Client != "" {
			detail += " client=" + m.Client
		}
		if m.MessageID != "" {
			detail += " message-id=<" + m.MessageID + ">"
		}
		if m.Size > 0 {
			detail += fmt.Sprintf(" size=%d", m.Size)
		}
		if m.NRcpt > 0 {
			detail += fmt.Sprintf(" nrcpt=%d", m.NRcpt)
		}
		if m.ParentQueueID != "" {
			detail += " (from queue ID " + m.ParentQueueID + ")"
		}
		tr.Events = append(tr.Events, traceEvent{Time: store.FromMicros(first.Int64), Host: m.Host, QueueID: m.QueueID, Kind: "arrived", Detail: detail, messageRef: m.id})
	}
	rows, err := db.QueryContext(ctx, `SELECT d.time, d.recipient, d.orig_recipient, r.name, d.delay, d.code, d.enhanced, d.reply,
		d.outcome, d.reason, d.final, d.next_queue_id, d.stage, ifnull(d.remote_id, ''), ifnull(d.remote_name, '')
		FROM deliveries d LEFT JOIN relays r ON r.id = d.relay_id WHERE d.message_ref = ? ORDER BY d.time, d.id`, m.id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t int64
		var rcpt string
		var orig, relay, enh, reply, reason, next, stage sql.NullString
		var delay sql.NullFloat64
		var code sql.NullInt64
		var ev traceEvent
		if err := rows.Scan(&t, &rcpt, &orig, &relay, &delay, &code, &enh, &reply, &ev.Kind, &reason, &ev.final, &next, &stage,
			&ev.RemoteID, &ev.RemoteName); err != nil {
			return err
		}
		ev.Time, ev.Host, ev.QueueID, ev.Recipient, ev.Relay = store.FromMicros(t), m.Host, m.QueueID, rcpt, relay.String
		ev.Code, ev.Enhanced, ev.Reply, ev.Reason, ev.messageRef = int(code.Int64), enh.String, reply.String, reason.String, m.id
		if delay.Valid {
			d := delay.Float64
			ev.Delay = &d
		}
		if orig.Valid && orig.String != rcpt {
			ev.Detail = "orig_to=<" + orig.String + ">"
		}
		if next.Valid {
			ev.Detail = strings.TrimSpace(ev.Detail + " queued as " + next.String)
		} else if ev.RemoteID != "" {
			ev.Detail = strings.TrimSpace(ev.Detail + " remote ID " + ev.RemoteID)
		}
		if ev.RemoteName != "" {
			ev.Detail = strings.TrimSpace(ev.Detail + " at " + ev.RemoteName)
		}
		if stage.Valid {
			ev.Detail = strings.TrimSpace(ev.Detail + " (in reply to " + stage.String + ")")
		}
		ev.Explanation = explain(ev.Code, ev.Enhanced, ev.Reason)
		tr.Events = append(tr.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if removed.Valid {
		tr.Events = append(tr.Events, traceEvent{Time: store.FromMicros(removed.Int64), Host: m.Host, QueueID: m.QueueID, Kind: "removed", messageRef: m.id})
	}
	return nil
}

func (tr *trace) rejects(ctx context.Context, db *sql.DB, q string, isAddress bool, lo, hi int64) error {
	var conds []string
	var args []any
	if isAddress {
		conds = append(conds, `j.recipient = ? COLLATE NOCASE`, `j.sender = ? COLLATE NOCASE`)
		args = append(args, q, q)
	}
	for _, m := range tr.Messages {
		conds = append(conds, `j.queue_id = ?`)
		args = append(args, m.QueueID)
	}
	if len(conds) == 0 {
		return nil
	}
	rows, err := db.QueryContext(ctx, `SELECT j.time, h.name, j.queue_id, j.recipient, j.sender, j.client, j.stage, j.code, j.enhanced, j.reply, j.reason
		FROM rejects j LEFT JOIN hosts h ON h.id = j.host_id WHERE (`+strings.Join(conds, " OR ")+`) AND j.time >= ? AND j.time < ?`,
		append(args, lo, hi)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t int64
		var host, qid, rcpt, sender, client, stage, enh, reply, reason sql.NullString
		var code sql.NullInt64
		if err := rows.Scan(&t, &host, &qid, &rcpt, &sender, &client, &stage, &code, &enh, &reply, &reason); err != nil {
			return err
		}
		ev := traceEvent{Time: store.FromMicros(t), Host: host.String, QueueID: qid.String, Kind: "rejected", Recipient: rcpt.String,
			Code: int(code.Int64), Enhanced: enh.String, Reply: reply.String, Reason: reason.String}
		ev.Detail = strings.TrimSpace(fmt.Sprintf("from=<%s> client=%s stage=%s", sender.String, client.String, stage.String))
		ev.Explanation = explain(ev.Code, ev.Enhanced, ev.Reason)
		tr.Events = append(tr.Events, ev)
		tr.Outcomes = append(tr.Outcomes, traceOutcome{QueueID: qid.String, Recipient: rcpt.String, Outcome: "rejected", Time: ev.Time, Detail: reason.String})
	}
	return rows.Err()
}

// outcomes lists each recipient's fate: its final attempt, or the last
// thing that happened to it.
func (tr *trace) outcomes() {
	type key struct {
		ref  int64
		rcpt string
	}
	last := make(map[key]traceEvent)
	var order []key
	for _, ev := range tr.Events {
		if ev.Recipient == "" || ev.messageRef == 0 {
			continue
		}
		k := key{ev.messageRef, ev.Recipient}
		prev, ok := last[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || !prev.final {
			last[k] = ev
		}
	}
	for _, k := range order {
		ev := last[k]
		o := traceOutcome{QueueID: ev.QueueID, Recipient: ev.Recipient, Outcome: ev.Kind, Time: ev.Time, Detail: ev.Reason}
		switch {
		case ev.Kind == "hop":
			o.Detail = strings.TrimSpace(ev.Detail)
		case ev.Kind == "deferred":
			o.Outcome = "waiting"
			o.Detail = "deferred, not decided in the log: " + ev.Reason
		case ev.Kind == "delivered":
			o.Detail = ev.Relay
		}
		tr.Outcomes = append(tr.Outcomes, o)
	}
}

// explain says what a reply means: the reason and the codes' titles.
func explain(code int, enhanced, reason string) string {
	var parts []string
	if r, ok := parse.ParseReason(reason); ok {
		parts = append(parts, r.Description())
	}
	if code != 0 {
		if ci := parse.DescribeBasic(code); ci.Meaning != "" {
			parts = append(parts, fmt.Sprintf("%d: %s.", code, strings.TrimSuffix(ci.Meaning, ".")))
		}
	}
	if enhanced != "" {
		if e, n := parse.ParseEnhanced(enhanced); n > 0 {
			if ci := parse.DescribeEnhanced(e); ci.Meaning != "" {
				parts = append(parts, fmt.Sprintf("%s: %s.", enhanced, strings.TrimSuffix(ci.Meaning, ".")))
			}
		}
	}
	return strings.Join(parts, " ")
}

func (tr *trace) text(e *env, loc *time.Location) {
	var b strings.Builder
	fmt.Fprintf(&b, "trace %s: %d message(s), %d event(s)\n", sanitize(tr.Query), len(tr.Messages), len(tr.Events))
	if tr.Limited {
		fmt.Fprintf(&b, "(more messages match: only the first %d are shown; --limit N shows more, --since and --until narrow the search)\n", len(tr.Messages))
	}
	b.WriteString("\n")
	if len(tr.Path) > 0 {
		fmt.Fprintf(&b, "Path:\n")
		for _, h := range tr.Path {
			line := fmt.Sprintf("  %s %s %s -> %s %s", h.Time.In(loc).Format("2006-01-02 15:04:05"),
				hostLabel(h.FromHost), h.FromQueueID, hostLabel(h.ToHost), h.ToQueueID)
			if h.Relay != "" {
				line += " via " + h.Relay
			}
			line += fmt.Sprintf(" (%d recipient(s))", len(h.Recipients))
			fmt.Fprintln(&b, sanitize(line))
		}
		fmt.Fprintln(&b)
	}
	for _, ev := range tr.Events {
		head := fmt.Sprintf("%s %s %s %-9s", ev.Time.In(loc).Format("2006-01-02 15:04:05"), hostLabel(ev.Host), orDash(ev.QueueID), ev.Kind)
		if ev.Recipient != "" {
			head += " to=<" + ev.Recipient + ">"
		}
		if ev.Relay != "" {
			head += " relay=" + ev.Relay
		}
		if ev.Delay != nil {
			head += " delay=" + strconv.FormatFloat(*ev.Delay, 'f', -1, 64)
		}
		fmt.Fprintln(&b, strings.TrimRight(sanitize(head), " "))
		if ev.Detail != "" {
			fmt.Fprintf(&b, "    %s\n", sanitize(ev.Detail))
		}
		if ev.Reply != "" {
			fmt.Fprintf(&b, "    reply: %s\n", sanitize(ev.Reply))
		}
		if ev.Explanation != "" && ev.Kind != "delivered" && ev.Kind != "hop" {
			fmt.Fprintf(&b, "    means: %s\n", sanitize(ev.Explanation))
		}
	}
	if len(tr.Outcomes) > 0 {
		fmt.Fprintf(&b, "\nFinal outcome per recipient:\n")
		for _, o := range tr.Outcomes {
			fmt.Fprintf(&b, "  %-10s %-9s %s  %s\n", orDash(o.QueueID), o.Outcome, sanitize(o.Recipient), sanitize(o.Detail))
		}
	}
	fmt.Fprint(e.stdout, b.String())
}

// hostLabel names the host of a line that named none (Exim's own mainlog
// ingested without --host) as `report --by host` does.
func hostLabel(h string) string {
	if h == "" {
		return "(mainlog)"
	}
	return h
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sanitize keeps escape sequences in logged text off the terminal.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
