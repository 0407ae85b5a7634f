package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
	"unsafe"

	"mailbounce/ingest"
	"mailbounce/parse"
)

// runParse prints what the parser makes of each line: a way for a user to
// check a log mailbounce miscounts, and to see the lines it did not
// understand.
func runParse(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "parse", "[flags] FILE|- ...")
	unknown := fs.Bool("unknown", false, "print only the Postfix and Exim lines that were not understood (also lines in a log format not known that name postfix or exim)")
	stats := fs.Bool("stats", false, "print counts of lines by program and kind instead of events")
	year := fs.Int("year", 0, "year of the first line of BSD-syslog logs (default: inferred from the file's modification time)")
	tz := fs.String("tz", "", "time zone of timestamps without offset, e.g. Europe/Berlin (default: local)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("name at least one log file, or - for standard input")
	}
	loc, err := loadLocation(*tz)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	counts := map[[2]string]int{}
	var skipped int
	years := yearCarry{given: *year}
	var prevKey [2]string // program and kind of the line before, for --stats
	inputs, err := ingest.Expand(fs.Args())
	if err != nil {
		// A file that is not there is a failure, as for ingest and report.
		return err
	}
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := ingest.Open(in, ingest.Options{})
		if err != nil {
			fmt.Fprintf(e.stderr, "mailbounce parse: %v\n", err)
			skipped++
			continue
		}
		p := parse.NewParser(parse.Options{Year: *year, Reference: in.ModTime, Location: loc})
		years.start(p, in.Path)
		var ev parse.Event
		for {
			b, _, err := r.Next()
			if err != nil {
				if err != io.EOF {
					fmt.Fprintf(e.stderr, "mailbounce parse: %v\n", err)
					skipped++
				}
				break
			}
			// The parser keeps no reference to the line past this loop
			// iteration, so the reader's buffer can be used in place.
			line := unsafe.String(unsafe.SliceData(b), len(b))
			p.ParseInto(&ev, line)
			if n, ok := parse.RepeatsPrevious(&ev); ok {
				// "last message repeated 3 times": three more of the line
				// before, if it was Postfix's or Exim's.
				if *stats && prevKey != ([2]string{}) {
					counts[prevKey] += n
				}
				prevKey = [2]string{}
				continue
			}
			prevKey = [2]string{}
			if ev.MTA != parse.MTAUnknown {
				prevKey = [2]string{programOf(&ev), ev.Kind.String()}
			}
			switch {
			case *stats:
				counts[[2]string{programOf(&ev), ev.Kind.String()}] += 1 + ev.Repeat
			case *unknown:
				if ev.MTA != parse.MTAUnknown && ev.Kind == parse.KindUnknown || parse.UnknownEnvelope(&ev, line) {
					fmt.Fprintln(out, line)
				}
			default:
				if ev.MTA != parse.MTAUnknown && ev.Kind != parse.KindOther {
					enc.Encode(eventJSON(&ev))
				}
			}
		}
		r.Close()
		years.end(p)
	}
	if *stats {
		keys := make([][2]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i][0] != keys[j][0] {
				return keys[i][0] < keys[j][0]
			}
			return keys[i][1] < keys[j][1]
		})
		fmt.Fprintf(out, "%-24s %-14s %10s\n", "PROGRAM", "KIND", "LINES")
		for _, k := range keys {
			fmt.Fprintf(out, "%-24s %-14s %10d\n", k[0], k[1], counts[k])
		}
	}
	if skipped > 0 {
		return &statusError{status: exitPartial, err: fmt.Errorf("%d input(s) skipped", skipped)}
	}
	return nil
}

// yearCarry makes --year the year of the first line of each rotated set:
// the next file of the set, read oldest first, goes on from where the one
// before it ended (a December file, then a January one); a file of another
// set starts over at the year given.
type yearCarry struct {
	given, year int
	month       time.Month
	family      string
}

// start sets up p, made with Options.Year = c.given, for the file at path.
func (c *yearCarry) start(p *parse.Parser, path string) {
	if c.given == 0 {
		return
	}
	if f := ingest.RotationFamily(path); f == c.family && c.month != 0 {
		p.ContinueYear(c.year, c.month)
	} else {
		c.family, c.month = f, 0
	}
}

// end records where p stood after the file.
func (c *yearCarry) end(p *parse.Parser) {
	if c.given == 0 {
		return
	}
	if y, m := p.YearState(); m != 0 {
		c.year, c.month = y, m
	}
}

func programOf(ev *parse.Event) string {
	switch ev.MTA {
	case parse.Postfix:
		return "postfix/" + ev.Service
	case parse.Exim:
		return "exim"
	}
	return "(other)"
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, usageError("--tz %q: %v (use an IANA name such as Europe/Berlin, or UTC)", name, err)
	}
	return loc, nil
}

// jsonEvent is the shape of `mailbounce parse` output, one object a line.
type jsonEvent struct {
	Time          string  `json:"time"`
	Host          string  `json:"host,omitempty"`
	Program       string  `json:"program"`
	Kind          string  `json:"kind"`
	QueueID       string  `json:"queue_id,omitempty"`
	Recipient     string  `json:"recipient,omitempty"`
	OrigRecipient string  `json:"orig_recipient,omitempty"`
	Relay         string  `json:"relay,omitempty"`
	Status        string  `json:"status,omitempty"`
	Outcome       string  `json:"outcome,omitempty"`
	Reason        string  `json:"reason,omitempty"`
	Code          int     `json:"code,omitempty"`
	Enhanced      string  `json:"enhanced,omitempty"`
	Stage         string  `json:"stage,omitempty"`
	RemoteHost    string  `json:"remote_host,omitempty"`
	RemoteID      string  `json:"remote_id,omitempty"`
	RemoteName    string  `json:"remote_name,omitempty"`
	Text          string  `json:"text,omitempty"`
	NextQueueID   string  `json:"next_queue_id,omitempty"`
	RequeuedFrom  string  `json:"requeued_from,omitempty"`
	Repeated      int     `json:"repeated,omitempty"` // lines syslog folded into this one
	Delay         float64 `json:"delay,omitempty"`
	Sender        *string `json:"sender,omitempty"`
	Size          int64   `json:"size,omitempty"`
	MessageID     string  `json:"message_id,omitempty"`
	Client        string  `json:"client,omitempty"`
}

func eventJSON(ev *parse.Event) jsonEvent {
	j := jsonEvent{
		Time: ev.Time.Format(time.RFC3339Nano), Host: ev.Host, Program: ev.Program, Kind: ev.Kind.String(),
		QueueID: ev.QueueID, Recipient: ev.Recipient, OrigRecipient: ev.OrigRecipient, Relay: ev.Relay.Raw,
		Status: ev.Status, Outcome: ev.Outcome.String(), Reason: ev.Reason.String(), Code: ev.Reply.Code,
		Enhanced: ev.Reply.Enhanced.String(), Stage: ev.Reply.Stage, RemoteHost: ev.Reply.RemoteHost,
		RemoteID: ev.Reply.RemoteID, RemoteName: ev.Reply.RemoteName, Text: ev.Reply.Text, NextQueueID: ev.NextQueueID,
		RequeuedFrom: ev.RequeuedFrom, MessageID: ev.MessageID, Client: ev.Client.Raw,
	}
	if ev.Repeat > 0 {
		j.Repeated = 1 + ev.Repeat
	}
	if ev.Delay >= 0 {
		j.Delay = ev.Delay
	}
	if ev.Size >= 0 {
		j.Size = ev.Size
	}
	if ev.Kind == parse.KindArrival || ev.Sender != "" {
		s := ev.Sender
		j.Sender = &s
	}
	return j
}
