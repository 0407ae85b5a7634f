package main

import (
	"context"
	"fmt"
	"strings"

	"mailbounce/parse"
)

// runExplain prints what an SMTP reply means: each digit of the basic and
// enhanced codes, the likely cause, and what a sender should do.
func runExplain(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "explain", `CODE [ENHANCED] | "REPLY TEXT" | "status=deferred (...)"`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("give a code such as 550 5.1.1, 4.2.2 or a reply text in quotes")
	}
	x, err := parse.Explain(strings.Join(fs.Args(), " "))
	if err != nil {
		return usageError("%v", err)
	}
	fmt.Fprint(e.stdout, x.String())
	return nil
}
