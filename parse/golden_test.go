package parse

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// render prints the fields of an event that are set, one line per event, so
// that a golden file shows at a glance what each real line became.
func render(ev *Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", ev.Kind, ev.Time.Format("2006-01-02T15:04:05.999999-07:00"))
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	kv("host", ev.Host)
	kv("prog", ev.Program)
	kv("qid", ev.QueueID)
	kv("to", ev.Recipient)
	kv("orig_to", ev.OrigRecipient)
	kv("relay", ev.Relay.Name)
	kv("relay_addr", ev.Relay.Addr)
	if ev.Relay.Port != 0 {
		kv("relay_port", fmt.Sprint(ev.Relay.Port))
	}
	kv("status", ev.Status)
	kv("outcome", ev.Outcome.String())
	kv("reason", ev.Reason.String())
	kv("dsn", ev.DSN)
	if ev.Reply.Code != 0 {
		kv("code", fmt.Sprint(ev.Reply.Code))
	}
	kv("enh", ev.Reply.Enhanced.String())
	kv("stage", ev.Reply.Stage)
	kv("remote", ev.Reply.RemoteHost)
	kv("remote_id", ev.Reply.RemoteID)
	kv("remote_name", ev.Reply.RemoteName)
	kv("text", ev.Reply.Text)
	kv("next_qid", ev.NextQueueID)
	kv("router", ev.Router)
	kv("transport", ev.Transport)
	if ev.Kind == KindArrival || ev.Sender != "" {
		fmt.Fprintf(&b, " from=%q", ev.Sender)
	}
	if ev.Size >= 0 {
		kv("size", fmt.Sprint(ev.Size))
	}
	if ev.NRcpt != 0 {
		kv("nrcpt", fmt.Sprint(ev.NRcpt))
	}
	kv("msgid", ev.MessageID)
	kv("client", ev.Client.Raw)
	kv("reject_stage", ev.RejectStage)
	kv("parent", ev.ParentID)
	return b.String()
}

// TestGolden parses every real sample under testdata/corpus and compares
// the result with testdata/golden. Run `go test ./parse -run Golden
// -update` after a deliberate change, and read the diff.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.log")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p := NewParser(Options{Reference: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), Location: time.UTC})
			var out strings.Builder
			for i, line := range strings.SplitAfter(string(data), "\n") {
				if line == "" {
					continue
				}
				ev := p.Parse(line)
				if ev.MTA == MTAUnknown || ev.Kind == KindOther {
					continue
				}
				fmt.Fprintf(&out, "%d: %s\n", i+1, render(&ev))
			}
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".log")+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("%s differs from %s (-want +got):\n%s", name, golden, diff)
			}
		})
	}
}

// TestSharedCorpus reads the larger public samples in place (some are GPL or
// AGPL and are not copied here) and checks that every delivery line of
// Postfix and Exim is understood as one. It skips when the corpus folder is
// not beside the repository.
func TestSharedCorpus(t *testing.T) {
	root := filepath.Join("..", "..", "shared", "corpus")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("no shared corpus at %s", root)
	}
	var lines, deliveries int
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(path, ".md") || strings.HasSuffix(path, ".msg") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		p := NewParser(Options{Reference: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)})
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		n := 0
		for sc.Scan() {
			n++
			line := sc.Text()
			lines++
			ev := p.Parse(line)
			want := wantDelivery(line)
			got := ev.Kind == KindDelivery
			if want != got {
				t.Errorf("%s:%d: delivery line %v, parsed as %s: %s", path, n, want, ev.Kind, line)
			}
			if got {
				deliveries++
				if ev.Recipient == "" || ev.Outcome == OutcomeNone || ev.QueueID == "" {
					t.Errorf("%s:%d: incomplete delivery %s: %s", path, n, render(&ev), line)
				}
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if deliveries < 4000 {
		t.Errorf("only %d deliveries in %d lines of the shared corpus", deliveries, lines)
	}
}

// wantDelivery says, with a deliberately naive test independent of the
// parser, whether a line is a delivery attempt.
func wantDelivery(line string) bool {
	if strings.Contains(line, "postfix") && strings.Contains(line, ": to=<") && strings.Contains(line, "status=") {
		return !strings.Contains(line, "status=deliverable") && !strings.Contains(line, "status=undeliverable")
	}
	f := strings.Fields(line)
	for i, w := range f {
		if i > 6 {
			break
		}
		switch w {
		case "=>", "->", "*>", "**", "==":
			// "=> blackhole (DATA ACL discarded recipients)" names none;
			// "=> >a@b <c@d>" is an autoreply, a message of its own;
			// "=> x <system-filter>" a copy the system filter made.
			if strings.Contains(line, "=> blackhole (") && strings.HasSuffix(line, "discarded recipients)") ||
				i+1 < len(f) && strings.HasPrefix(f[i+1], ">") || i+2 < len(f) && f[i+2] == "<system-filter>" {
				return false
			}
			// Exim's "retry time not reached" deferrals are not attempts:
			// nothing was tried.
			if w == "==" && (strings.Contains(line, "retry time not reached") || strings.Contains(line, "Retry time not yet reached") ||
				strings.Contains(line, "matches queue_smtp_domains") || strings.Contains(line, "SMTP delivery explicitly queued")) {
				return false
			}
			return i > 0 && len(f[i-1]) >= 16 && f[i-1][6] == '-'
		}
	}
	return false
}
