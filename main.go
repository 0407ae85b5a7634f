// Command mailbounce reads Postfix and Exim logs and reports, per recipient
// domain, what was delivered, deferred and bounced, and why.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

// Exit statuses are a public interface: cron jobs and monitoring checks
// branch on them.
const (
	exitOK        = 0 // success
	exitError     = 1 // the command failed
	exitUsage     = 2 // bad flags or arguments
	exitThreshold = 3 // report --fail-if: a threshold was crossed
	exitPartial   = 4 // done, but some input was skipped (unreadable file, bad archive, ...)
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// usageError reports a mistake on the command line, with exit status 2.
func usageError(format string, args ...any) error {
	return &statusError{status: exitUsage, err: fmt.Errorf(format, args...)}
}

// statusError carries a specific exit status out of a command.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch of the outside world; tests replace it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

var commands = []command{
	{"ingest", "read logs (files, globs, rotated and compressed archives, stdin) into the database", runIngest},
	{"tail", "follow live logs into the database, through rotations and restarts", runTail},
	{"report", "per-domain delivery report (text, json, csv, markdown, html); --fail-if for cron", runReport},
	{"trace", "every event of one message (queue ID, Message-ID, address or remote ID) across hosts", runTrace},
	{"parse", "print the events read from log lines (for checking what mailbounce understands)", runParse},
	{"explain", "explain an SMTP reply code, enhanced status code or reply text", runExplain},
	{"version", "print the version", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	status := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(status)
}

// run dispatches to a subcommand and maps its error to an exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 2 && args[0] == "help" {
		// "mailbounce help ingest" is "mailbounce ingest --help".
		args = []string{args[1], "--help"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" {
		args[0] = "version"
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		return statusOf(e, c.name, err)
	}
	fmt.Fprintf(e.stderr, "mailbounce: unknown command %q; run 'mailbounce help' for the list\n", args[0])
	return exitUsage
}

func statusOf(e *env, name string, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	var se *statusError
	if errors.As(err, &se) {
		if se.err != nil && se.err.Error() != "" {
			fmt.Fprintf(e.stderr, "mailbounce %s: %v\n", name, se.err)
		}
		return se.status
	}
	fmt.Fprintf(e.stderr, "mailbounce %s: %v\n", name, err)
	return exitError
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "mailbounce reads Postfix and Exim logs and reports delivered, deferred and bounced mail per domain.\n\n")
	fmt.Fprintf(w, "Usage: mailbounce COMMAND [flags] [args]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'mailbounce COMMAND --help' for a command's flags.\n")
	fmt.Fprintf(w, "Exit status: 0 ok, 1 error, 2 usage, 3 report --fail-if threshold crossed, 4 some input skipped.\n")
}

// newFlags builds a subcommand's flag set, which reports its own errors
// through the returned error rather than exiting.
func newFlags(e *env, name, args string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	// Only --help prints the usage (a wrong flag gets a one-line error):
	// on standard output, so that "mailbounce ingest --help | less" works.
	fs.SetOutput(e.stdout)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: mailbounce %s %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags wraps pflag's errors as usage errors.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError("%v; run 'mailbounce %s --help'", err, fs.Name())
	}
	return nil
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fmt.Fprintf(e.stdout, "mailbounce %s\n", version)
	return nil
}
