package ingest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		writeFile(t, filepath.Join(dir, n), []byte(n+"\n"))
	}
}

func paths(dir string, ins []Input) []string {
	var out []string
	for _, in := range ins {
		out = append(out, strings.TrimPrefix(in.Path, dir+"/"))
	}
	return out
}

func TestExpandOrder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	touch(t, dir,
		"mail.log", "mail.log.1", "mail.log.2.gz", "mail.log.3.gz", "mail.log.10.gz",
		"maillog", "maillog-20261127.gz", "maillog-20261128", "maillog-20261126.bz2",
		"syslog", "syslog.0", "syslog.1.xz",
		"exim.log", "exim.log-2026-11-27.zst", "exim.log-2026-11-28",
		"other.txt")

	given := []string{"mail.log", "other.txt", "maillog", "mail.log.2.gz", "syslog.0", "maillog-20261128",
		"exim.log-2026-11-28", "mail.log.10.gz", "mail.log.1", "maillog-20261127.gz", "syslog", "mail.log.3.gz",
		"exim.log", "syslog.1.xz", "maillog-20261126.bz2", "exim.log-2026-11-27.zst"}
	want := []string{
		"mail.log.10.gz", "mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log",
		"other.txt",
		"maillog-20261126.bz2", "maillog-20261127.gz", "maillog-20261128", "maillog",
		"syslog.1.xz", "syslog.0", "syslog",
		"exim.log-2026-11-27.zst", "exim.log-2026-11-28", "exim.log",
	}
	ins, err := Expand(given)
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(dir, ins); !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}

	// Whatever the order given, each family comes out oldest first.
	families := map[string][]string{}
	for _, w := range want {
		f := newRotated(Input{Path: w}).family
		families[f] = append(families[f], w)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		rng.Shuffle(len(given), func(i, j int) { given[i], given[j] = given[j], given[i] })
		ins, err := Expand(given)
		if err != nil {
			t.Fatal(err)
		}
		got := paths(dir, ins)
		for _, members := range families {
			var order []string
			for _, g := range got {
				if slices.Contains(members, g) {
					order = append(order, g)
				}
			}
			if !slices.Equal(order, members) {
				t.Fatalf("given %q: family read as %q, want %q", given, order, members)
			}
		}
	}
}

// Unrelated files keep the order they were given in.
func TestExpandKeepsUnrelatedOrder(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "b.log", "a.log", "c.log")
	given := []string{dir + "/c.log", dir + "/a.log", dir + "/b.log"}
	ins, err := Expand(given)
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(dir, ins); !slices.Equal(got, []string{"c.log", "a.log", "b.log"}) {
		t.Errorf("got %q", got)
	}
}

func TestExpandGlob(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "mail.log", "mail.log.1", "mail.log.2.gz", "mail.log.11.gz", "mail[1].log", "mail.err")
	if err := os.Mkdir(filepath.Join(dir, "mail.log.d"), 0o755); err != nil {
		t.Fatal(err)
	}

	ins, err := Expand([]string{dir + "/mail.log*"})
	if err != nil {
		t.Fatal(err)
	}
	// The glob sorts mail.log.11.gz before mail.log.2.gz; rotation order
	// does not. The directory is skipped.
	if got, want := paths(dir, ins), []string{"mail.log.11.gz", "mail.log.2.gz", "mail.log.1", "mail.log"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if ins[3].Size != int64(len("mail.log\n")) || ins[3].ModTime.IsZero() || ins[3].Inode == 0 {
		t.Errorf("Input not filled in: %+v", ins[3])
	}

	ins, err = Expand([]string{dir + "/mail[1].log"})
	if err != nil || len(ins) != 1 || ins[0].Path != dir+"/mail[1].log" {
		t.Errorf("a name with glob characters that exists is taken as it is: %v %v", ins, err)
	}

	for _, tt := range []struct{ arg, want string }{
		{dir + "/nomatch*", `no files match "` + dir + `/nomatch*"`},
		{dir + "/mail.log.d*", `no files match "` + dir + `/mail.log.d*"`},
		{dir + "/[", `bad pattern "` + dir + `/["`},
		{dir + "/missing.log", dir + "/missing.log: no such file; check the path"},
		{dir + "/mail.log.d", dir + "/mail.log.d: is a directory"},
	} {
		_, err := Expand([]string{dir + "/mail.log", tt.arg})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Expand(%q): got %v, want %q", tt.arg, err, tt.want)
		}
	}
}

func TestExpandDedupe(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "mail.log", "mail.log.1")
	if err := os.Symlink("mail.log", filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "mail.log"), filepath.Join(dir, "hardlink")); err != nil {
		t.Fatal(err)
	}
	given := []string{
		dir + "/mail.log", dir + "/./mail.log", dir + "/current", dir + "/hardlink",
		dir + "/mail.log*", dir + "/mail.log.1",
	}
	ins, err := Expand(given)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := paths(dir, ins), []string{"mail.log.1", "mail.log"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRotationNames(t *testing.T) {
	for _, tt := range []struct {
		path, family string
		kind         rotationKind
	}{
		{"/var/log/mail.log", "/var/log/mail.log", kindLive},
		{"/var/log/mail.log.0", "/var/log/mail.log", kindNumbered},
		{"/var/log/mail.log.7.gz", "/var/log/mail.log", kindNumbered},
		{"/var/log/maillog-20261128", "/var/log/maillog", kindDated},
		{"/var/log/maillog-2026112803.zst", "/var/log/maillog", kindDated},
		{"/var/log/maillog-1764300000.xz", "/var/log/maillog", kindDated},
		{"/var/log/mail.log.20261128", "/var/log/mail.log", kindDated},
		{"/var/log/exim4/mainlog.2026-11-28", "/var/log/exim4/mainlog", kindDated},
		{"/var/log/mail.log-20261128-1795947615.gz", "/var/log/mail.log", kindDated},
		{"/var/log/mail.log-2026-11-28_07:04", "/var/log/mail.log", kindDated},
		{"/var/log/mail.log-2026-11-28-1795947615", "/var/log/mail.log", kindDated},
		{"/var/log/mail.log-2026-11-28T07-04-05", "/var/log/mail.log", kindDated},
		{"/var/log/mail.log-2026", "/var/log/mail.log-2026", kindLive},
		{"/var/log/mail.err", "/var/log/mail.err", kindLive},
		{"/var/log/mail.gz", "/var/log/mail", kindLive},
	} {
		r := newRotated(Input{Path: tt.path})
		if r.family != tt.family || r.kind != tt.kind {
			t.Errorf("%s: family %q kind %d, want %q %d", tt.path, r.family, r.kind, tt.family, tt.kind)
		}
	}
}

// Exim copies each rejection to its rejectlog: with a mainlog of the same
// directory, the rejectlog and its rotations are left out; alone, or with
// another directory's mainlog, it is read.
func TestEximRejectLogs(t *testing.T) {
	in := func(paths ...string) []Input {
		var out []Input
		for _, p := range paths {
			out = append(out, Input{Path: p})
		}
		return out
	}
	names := func(ins []Input) string {
		var s []string
		for _, i := range ins {
			s = append(s, i.Path)
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct{ given, keep, skipped string }{
		{"/var/log/exim4/mainlog.1 /var/log/exim4/rejectlog.1.gz /var/log/exim4/rejectlog /var/log/exim4/mainlog /var/log/exim4/paniclog",
			"/var/log/exim4/mainlog.1 /var/log/exim4/mainlog /var/log/exim4/paniclog", "/var/log/exim4/rejectlog.1.gz /var/log/exim4/rejectlog"},
		// Only the reject log of a main log given: today's rejectlog
		// without today's mainlog, or an older one, is read.
		{"/var/log/exim4/mainlog.1 /var/log/exim4/rejectlog /var/log/exim4/rejectlog.2.gz",
			"/var/log/exim4/mainlog.1 /var/log/exim4/rejectlog /var/log/exim4/rejectlog.2.gz", ""},
		{"/var/log/exim_mainlog-20261128 /var/log/exim_rejectlog-20261128.gz", "/var/log/exim_mainlog-20261128", "/var/log/exim_rejectlog-20261128.gz"},
		{"/var/log/exim4/rejectlog", "/var/log/exim4/rejectlog", ""},
		// log_file_path = /var/log/exim/%s.log (Fedora's and RHEL's).
		{"/var/log/exim/main.log /var/log/exim/reject.log /var/log/exim/panic.log /var/log/exim/reject.log-20261128.gz /var/log/exim/main.log-20261128.gz",
			"/var/log/exim/main.log /var/log/exim/panic.log /var/log/exim/main.log-20261128.gz", "/var/log/exim/reject.log /var/log/exim/reject.log-20261128.gz"},
		{"/var/log/exim_main.log /var/log/exim_reject.log", "/var/log/exim_main.log", "/var/log/exim_reject.log"},
		{"/var/log/mainhost/mainhost-mainlog /var/log/mainhost/mainhost-rejectlog", "/var/log/mainhost/mainhost-mainlog", "/var/log/mainhost/mainhost-rejectlog"},
		{"/srv/a/mainlog /srv/b/rejectlog", "/srv/a/mainlog /srv/b/rejectlog", ""},
		{"- /var/log/exim4/rejectlog", "- /var/log/exim4/rejectlog", ""},
	} {
		keep, skipped := EximRejectLogs(in(strings.Fields(tt.given)...))
		if names(keep) != tt.keep || names(skipped) != tt.skipped {
			t.Errorf("%s: kept %q skipped %q, want %q and %q", tt.given, names(keep), names(skipped), tt.keep, tt.skipped)
		}
	}
}

// A dated archive copied without its time (cp without -p) has today's
// modification time: the date in its name tells the year of its lines.
func TestExpandDatedReference(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "maillog-20251201.gz", "maillog-20261127", "maillog-1764000000")
	ins, err := Expand([]string{filepath.Join(dir, "maillog-*")})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		got := in.ModTime
		switch filepath.Base(in.Path) {
		case "maillog-20251201.gz":
			if want := time.Date(2025, 12, 2, 0, 0, 0, 0, time.Local); !got.Equal(want) {
				t.Errorf("%s: reference %v, want %v (the end of the day in its name)", in.Path, got, want)
			}
		default:
			// Rotated two days ago at most, or no date: the file's time.
			if time.Since(got) > time.Minute {
				t.Errorf("%s: reference %v, want its modification time", in.Path, got)
			}
		}
	}
}
