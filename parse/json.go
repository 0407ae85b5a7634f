package parse

import (
	"encoding/json"
	"strconv"
	"time"
)

// Lines that are JSON objects: the systemd journal's export as
// `journalctl -o json` writes it, one entry per line, and Docker's
// json-file logs, whose "log" holds the line the container wrote.

// journalEntry is the part of a journal entry that makes a syslog line.
// A field the journal could not store as text is an array of bytes; a
// field given more than once is an array of values.
type journalEntry struct {
	Realtime   string          `json:"__REALTIME_TIMESTAMP"` // microseconds since 1970
	Identifier json.RawMessage `json:"SYSLOG_IDENTIFIER"`
	SyslogPID  json.RawMessage `json:"SYSLOG_PID"`
	PID        json.RawMessage `json:"_PID"`
	Hostname   json.RawMessage `json:"_HOSTNAME"`
	Message    json.RawMessage `json:"MESSAGE"`
	// Docker's json-file driver: the line the container wrote, with its
	// own timestamp (the entry's "time" is when Docker read it).
	Log *string `json:"log"`
	// Docker's time of the line, UTC with nanoseconds.
	Time string `json:"time"`
}

// jsonEnvelope reads a JSON line as envelope does a text line.
func (p *Parser) jsonEnvelope(ev *Event, line string) (string, bool) {
	var e journalEntry
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		return "", false
	}
	if e.Log != nil {
		// Docker: the container's own line, with its own envelope.
		inner := trimEOL(*e.Log)
		if inner == "" || inner[0] == '{' {
			return "", false
		}
		rest, ok := p.envelope(ev, inner)
		// A container's syslog stamp names no zone and no year: read in
		// this machine's zone (or --tz) it can be hours or a year off, where
		// Docker's own time is exact. Off by more than a few minutes, the
		// stamp is moved by whole quarter hours (every zone's offset is
		// one) to Docker's, keeping its seconds.
		if ok && isBSDStamp(inner) {
			if dt, err := time.Parse(time.RFC3339Nano, e.Time); err == nil {
				if d := dt.Sub(ev.Time); d > 5*time.Minute || d < -5*time.Minute {
					ev.Time = ev.Time.Add(d.Round(15 * time.Minute))
				}
			}
		}
		return rest, ok
	}
	msg, ok := journalText(e.Message)
	if !ok {
		return "", false
	}
	ev.Program, ok = journalText(e.Identifier)
	if !ok || ev.Program == "" {
		return "", false
	}
	ev.Host, _ = journalText(e.Hostname)
	pid, ok := journalText(e.SyslogPID)
	if !ok {
		pid, _ = journalText(e.PID)
	}
	ev.PID = atoi(pid)
	if us, err := strconv.ParseInt(e.Realtime, 10, 64); err == nil && us > 0 {
		ev.Time = time.UnixMicro(us).UTC()
	}
	return p.program(ev, msg)
}

// journalText reads a journal field: a string, an array of bytes (text
// that is not UTF-8, kept as it was), or the last of an array of those.
func journalText(raw json.RawMessage) (string, bool) {
	if s, ok := journalValue(raw); ok {
		return s, true
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return journalValue(many[len(many)-1])
	}
	return "", false
}

// journalValue reads a string or an array of bytes, nothing deeper.
func journalValue(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var nums []int
	if json.Unmarshal(raw, &nums) == nil {
		b := make([]byte, 0, len(nums))
		for _, n := range nums {
			if n < 0 || n > 255 {
				return "", false
			}
			b = append(b, byte(n))
		}
		return string(b), true // as a text line's bytes are kept
	}
	return "", false
}

// isBSDStamp tells a line that starts with a BSD syslog stamp ("Nov 28
// 07:04:05"): a month name, no year, no zone.
func isBSDStamp(s string) bool {
	return len(s) > 4 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'a' && s[1] <= 'z' && s[2] >= 'a' && s[2] <= 'z' && s[3] == ' '
}
