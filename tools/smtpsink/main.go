// Command smtpsink is the scripted SMTP/LMTP server behind mailbounce's test
// data from real MTAs (scripts/mta). It answers each recipient from a fixed
// catalogue of real-world replies chosen by the recipient's domain and local
// part, and writes a JSON-lines journal of every answer; that journal plus the
// injection plan, never the MTA's log, is the ground truth.
//
// Subcommands:
//
//	smtpsink serve  -journal FILE [-listen profile=127.0.0.1:PORT ...]
//	smtpsink plan   -out FILE -n N -seed S -prefix p -via sendmail,smtp[,smtp-filter,pipe-filter] [-msgid-domain D] [-admin-delete N [-admin-delete-from I]]
//	smtpsink inject -plan FILE -sendmail "CMD ARGS" -smtp ADDR [-filter ADDR] [-pipe-filter ADDR]
//	smtpsink expect -plan FILE -journal FILE -mbox DIR -out FILE [-truth FILE] [-chain FILE -hub-expected FILE]
//	smtpsink totals -expected FILE
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "smtpsink:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("want a subcommand: serve, plan, inject, expect: %w", flag.ErrHelp)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	fs := flag.NewFlagSet("smtpsink "+args[0], flag.ContinueOnError)
	switch args[0] {
	case "serve":
		journal := fs.String("journal", "journal.jsonl", "JSON-lines journal to append to")
		var listens multiFlag
		fs.Var(&listens, "listen", "profile=host:port (repeatable; default: every profile on its standard port)")
		cmdTimeout := fs.Duration("command-timeout", 5*time.Minute, "idle time allowed per command")
		stall := fs.Duration("stall", 60*time.Second, "how long the slow profile withholds its end-of-data reply")
		pidFile := fs.String("pidfile", "", "write the process id here once listening")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return runServe(ctx, *journal, listens, *cmdTimeout, *stall, *pidFile, log)
	case "plan":
		out := fs.String("out", "plan.jsonl", "plan file to write")
		n := fs.Int("n", 300, "messages")
		seed := fs.Uint64("seed", 1, "random seed")
		prefix := fs.String("prefix", "p", "message id prefix")
		via := fs.String("via", "sendmail,smtp", "comma-separated injection paths")
		msgidDomain := fs.String("msgid-domain", "", "give every message the fixed Message-ID <ID@DOMAIN> (default: made up at injection)")
		adminDelete := fs.Int("admin-delete", 0, "flag this many messages (via sendmail or smtp, with a recipient always deferred) for deletion with postsuper -d while deferred")
		adminDeleteFrom := fs.Int("admin-delete-from", 0, "flag only messages from this index (0-based) on")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		vias := strings.Split(*via, ",")
		for _, v := range vias {
			if !knownVias[v] {
				return fmt.Errorf("unknown via %q (want sendmail, smtp, smtp-filter, pipe-filter)", v)
			}
		}
		plan := makePlan(*n, *seed, *prefix, vias, *msgidDomain)
		if err := markAdminDeletes(plan, *adminDelete, *adminDeleteFrom); err != nil {
			return err
		}
		return writePlan(*out, plan)
	case "inject":
		planPath := fs.String("plan", "plan.jsonl", "plan file")
		sendmail := fs.String("sendmail", "/usr/sbin/sendmail", "sendmail-compatible command (space-separated)")
		smtpAddr := fs.String("smtp", "127.0.0.1:25", "SMTP submission address")
		filterAddr := fs.String("filter", "", "SMTP address whose listener applies a content filter (an SMTP hop; via smtp-filter)")
		pipeFilterAddr := fs.String("pipe-filter", "", "SMTP address whose listener applies a pipe content filter that re-injects with sendmail (via pipe-filter)")
		from := fs.Int("from", 0, "first message index (0-based)")
		to := fs.Int("to", 0, "end message index (exclusive; 0 = all)")
		interval := fs.Duration("interval", 100*time.Millisecond, "pause between messages")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		plan, err := readPlan(*planPath)
		if err != nil {
			return err
		}
		return inject(plan, *from, *to, strings.Fields(*sendmail), *smtpAddr, *filterAddr, *pipeFilterAddr, *interval)
	case "expect":
		planPath := fs.String("plan", "plan.jsonl", "plan file")
		journalPath := fs.String("journal", "journal.jsonl", "sink journal")
		mbox := fs.String("mbox", "", "directory of the local mailboxes (mbtest, dsnbox)")
		header := fs.String("delivered-header", "Delivered-To", "header naming the envelope recipient in local mailboxes")
		out := fs.String("out", "expected.json", "expected counts to write")
		truthPath := fs.String("truth", "", "per-recipient truth (JSON lines) to write")
		chainPath := fs.String("chain", "", "two-server chain: per-message ids and fates (chain.json) to write")
		hubPath := fs.String("hub-expected", "", "two-server chain: expected counts of the hub's log alone to write")
		edgeHost := fs.String("edge-host", "edge.mailbounce.test", "two-server chain: the edge's host name in Received headers")
		hubHost := fs.String("hub-host", "hub.mailbounce.test", "two-server chain: the hub's host name in Received headers")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		plan, err := readPlan(*planPath)
		if err != nil {
			return err
		}
		journal, err := readJournal(*journalPath)
		if err != nil {
			return err
		}
		exp, truths, err := computeExpected(plan, journal, *mbox, *header, os.Stderr)
		if err != nil {
			return err
		}
		if err := writeJSON(*out, exp); err != nil {
			return err
		}
		if *chainPath != "" || *hubPath != "" {
			ct, hub, err := computeChain(plan, journal, truths, exp, *mbox, *edgeHost, *hubHost, os.Stderr)
			if err != nil {
				return err
			}
			if *chainPath != "" {
				if err := writeJSON(*chainPath, ct); err != nil {
					return err
				}
			}
			if *hubPath != "" {
				if err := writeJSON(*hubPath, hub); err != nil {
					return err
				}
			}
		}
		if *truthPath != "" {
			f, err := os.Create(*truthPath)
			if err != nil {
				return fmt.Errorf("create truth: %w", err)
			}
			enc := json.NewEncoder(f)
			for _, t := range truths {
				if err := enc.Encode(t); err != nil {
					f.Close()
					return fmt.Errorf("write truth: %w", err)
				}
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("write truth: %w", err)
			}
		}
		return nil
	case "totals":
		path := fs.String("expected", "expected.json", "expected counts")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return printTotals(*path)
	}
	return fmt.Errorf("unknown subcommand %q: %w", args[0], flag.ErrHelp)
}

// printTotals sums expected.json over all domains, for the sanity check in
// scripts/mta/generate.sh.
func printTotals(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read expected: %w", err)
	}
	var exp expectation
	if err := json.Unmarshal(b, &exp); err != nil {
		return fmt.Errorf("parse expected: %w", err)
	}
	sum := map[string]int{}
	unknown := []string{}
	for d, c := range exp.Domains {
		for k, v := range c {
			sum[k] += v
		}
		if _, ok := c["deferred"]; !ok {
			unknown = append(unknown, d)
		}
	}
	fmt.Printf("recipients=%d delivered=%d bounced=%d expired=%d deferred=%d (+ not knowable for %v) deferred_recipients=%d\n",
		sum["recipients"], sum["delivered"], sum["bounced"], sum["expired"], sum["deferred"], unknown, sum["deferred_recipients"])
	return nil
}

// writeJSON writes v indented, with <, > and & as they are (Message-IDs).
func writeJSON(path string, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
