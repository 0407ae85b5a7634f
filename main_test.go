package main

import (
	"strings"
	"testing"
)

// TestHelp: each command's --help goes to standard output with status 0
// ("mailbounce ingest --help | less"), "mailbounce help CMD" is the same,
// and a wrong flag is a one-line error on standard error with status 2.
func TestHelp(t *testing.T) {
	for _, c := range commands {
		if c.name == "version" {
			continue // takes no flags
		}
		out, errOut, status := mailbounce(t, c.name, "--help")
		if status != exitOK || !strings.HasPrefix(out, "Usage: mailbounce "+c.name) || errOut != "" {
			t.Errorf("%s --help: status %d, stdout %.40q, stderr %q", c.name, status, out, errOut)
		}
		if out2, _, status2 := mailbounce(t, "help", c.name); out2 != out || status2 != exitOK {
			t.Errorf("help %s: status %d, differs from %s --help", c.name, status2, c.name)
		}
	}
	out, errOut, status := mailbounce(t, "ingest", "--no-such-flag")
	if status != exitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--help") {
		t.Errorf("wrong flag: status %d, stdout %q, stderr %q", status, out, errOut)
	}
}
