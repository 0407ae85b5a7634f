package ingest

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stdin is the argument that stands for standard input.
const Stdin = "-"

// Input is one source of lines, as found by Expand.
type Input struct {
	Path string // as given or as a glob matched it; Stdin for standard input
	// Size is the size on disk (compressed, for an archive), the total for
	// a progress bar; -1 when unknown, as for a pipe.
	Size int64
	// ModTime lets the parser infer the year of BSD syslog timestamps,
	// which have none. For a pipe it is the time of Expand: whatever is
	// piped in is most likely recent.
	ModTime    time.Time
	Dev, Inode uint64 // zero when not a regular file
}

// IsStdin reports whether in is standard input.
func (in Input) IsStdin() bool { return in.Path == Stdin }

// Name is how in is named in messages.
func (in Input) Name() string {
	if in.IsStdin() {
		return "standard input"
	}
	return in.Path
}

// Expand turns command-line arguments (paths, globs, Stdin) into Inputs.
//
// Each rotated set is put oldest first, whatever order the arguments (or a
// glob's alphabetical order) gave it in, so that events come out in time
// order: mail.log.3.gz mail.log.2.gz mail.log.1 mail.log, and maillog-20261127.gz
// maillog-20261128 maillog. Files that are not of one set keep the order
// they were given in; a set sits where its first member was given. The
// same file given twice, under any name, is kept once.
//
// A glob that matches no file is an error naming the pattern, so that a
// typo is not mistaken for an empty log. Directories are an error when
// named, and skipped when a glob matches them.
func Expand(args []string) ([]Input, error) {
	inputs, errs := ExpandAll(args)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return inputs, nil
}

// ExpandAll is Expand that goes on past a bad argument: it returns the
// inputs of the arguments that could be expanded, in the same order, and
// an error for each one that could not, so that a batch run can read what
// is there and still say what was missing.
func ExpandAll(args []string) ([]Input, []error) {
	type key struct{ dev, ino uint64 }
	var errs []error
	var (
		found     []rotated
		seen      = map[key]bool{}
		seenStdin bool
	)
	for _, arg := range args {
		if arg == Stdin {
			in := stdinInput()
			k := key{in.Dev, in.Inode}
			if !seenStdin && (in.Inode == 0 || !seen[k]) {
				seenStdin = true
				if in.Inode != 0 {
					seen[k] = true
				}
				found = append(found, rotated{in: in, family: "\x00stdin"})
			}
			continue
		}
		paths, fromGlob, err := expandArg(arg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files := 0
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil {
				errs = append(errs, explain(p, err))
				continue
			}
			if fi.IsDir() {
				if !fromGlob {
					errs = append(errs, fmt.Errorf("%s: is a directory", p))
				}
				continue
			}
			files++
			in := Input{Path: p, Size: -1, ModTime: fi.ModTime()}
			if fi.Mode().IsRegular() {
				in.Size = fi.Size()
				in.Dev, in.Inode = inodeOf(fi)
			} else {
				in.ModTime = time.Now()
			}
			if in.Inode != 0 {
				k := key{in.Dev, in.Inode}
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			found = append(found, newRotated(in))
		}
		if fromGlob && files == 0 {
			errs = append(errs, fmt.Errorf("no files match %q", arg))
		}
	}
	return orderRotations(found), errs
}

// expandArg returns the paths an argument stands for. A path that exists
// is taken literally even if it holds glob characters, since a file may be
// named "mail[1].log".
func expandArg(arg string) (paths []string, fromGlob bool, err error) {
	if !strings.ContainsAny(arg, `*?[\`) {
		return []string{arg}, false, nil
	}
	if _, err := os.Lstat(arg); err == nil {
		return []string{arg}, false, nil
	}
	paths, err = filepath.Glob(arg)
	if err != nil {
		return nil, true, fmt.Errorf("bad pattern %q: %w", arg, err)
	}
	if len(paths) == 0 {
		return nil, true, fmt.Errorf("no files match %q", arg)
	}
	return paths, true, nil
}

func stdinInput() Input {
	in := Input{Path: Stdin, Size: -1, ModTime: time.Now()}
	// "mailbounce report - < mail.log" gives a real file: use what it says.
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode().IsRegular() {
		in.Size = fi.Size()
		in.ModTime = fi.ModTime()
		in.Dev, in.Inode = inodeOf(fi)
	}
	return in
}

// rotated is an Input placed in its rotation family.
type rotated struct {
	in     Input
	family string // the live file's path, shared by all of its rotations
	kind   rotationKind
	number int    // kindNumbered: higher is older
	date   string // kindDated: digits only, compared as numbers
}

// rotationKind orders the members of a family: numbered rotations (oldest,
// highest number, first), then dated ones (oldest first), then the live file.
// Numbered and dated rotations of one file do not normally coexist; if they
// do, nothing tells which is older, and this order is as good as any.
type rotationKind uint8

const (
	kindNumbered rotationKind = iota
	kindDated
	kindLive
)

// compressionSuffixes are stripped to find the family. They say nothing
// about how the file is opened, which goes by content.
var compressionSuffixes = []string{".gz", ".bz2", ".xz", ".zst", ".zstd"}

var (
	// logrotate "rotate N" and Debian's savelog: mail.log.1, mail.log.0.
	// Eight or more digits is a date, not a count.
	numberedSuffix = regexp.MustCompile(`^(.+)\.([0-9]{1,7})$`)
	// logrotate "dateext" with the default dateformat -%Y%m%d, and the
	// common variants: -%Y%m%d%H (hourly), -%Y-%m-%d, -%s (epoch seconds),
	// a date then a time or epoch seconds (-%Y%m%d-%s, logrotate(8)'s way
	// to rotate more than once a day, -%Y-%m-%d_%H:%M).
	datedSuffix = regexp.MustCompile(`^(.+?)[-._]([0-9]{8,14}|[0-9]{4}-?[0-9]{2}-?[0-9]{2}(?:[-_T.:][0-9]{2,10})*)$`)
)

func newRotated(in Input) rotated {
	dir, base := filepath.Split(in.Path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	for _, ext := range compressionSuffixes {
		if stem, ok := strings.CutSuffix(base, ext); ok && stem != "" {
			base = stem
			break
		}
	}
	r := rotated{in: in, kind: kindLive}
	if m := numberedSuffix.FindStringSubmatch(base); m != nil {
		base, r.kind = m[1], kindNumbered
		for _, c := range m[2] {
			r.number = r.number*10 + int(c-'0')
		}
	} else if m := datedSuffix.FindStringSubmatch(base); m != nil {
		base, r.kind = m[1], kindDated
		r.date = strings.Map(func(c rune) rune {
			if c >= '0' && c <= '9' {
				return c
			}
			return -1
		}, m[2])
		r.in.ModTime = datedReference(r.date, r.in.ModTime)
	}
	r.family = filepath.Join(dir, base)
	return r
}

// RotationFamily names the rotated set a file belongs to: its directory and
// name without the rotation's number or date and compression suffix
// ("/var/log/mail.log" for /var/log/mail.log.2.gz).
func RotationFamily(path string) string {
	return newRotated(Input{Path: path}).family
}

// datedReference is the time a rotated file's lines are known to be
// before, for the year of BSD timestamps: its modification time, unless the
// date in its name (logrotate's dateext, "maillog-20251201") says the file
// was rotated days earlier, as when the archive was copied without keeping
// its time (cp without -p, a backup restored): then the end of that day.
func datedReference(digits string, mtime time.Time) time.Time {
	if len(digits) < 8 {
		return mtime
	}
	y, errY := strconv.Atoi(digits[:4])
	mo, errM := strconv.Atoi(digits[4:6])
	d, errD := strconv.Atoi(digits[6:8])
	if errY != nil || errM != nil || errD != nil || y < 1990 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return mtime // epoch seconds (-%s), or no date
	}
	end := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.Local).AddDate(0, 0, 1)
	if mtime.Sub(end) > 48*time.Hour {
		return end
	}
	return mtime
}

// orderRotations groups files by family, families in order of first
// appearance, and sorts each family oldest first.
func orderRotations(found []rotated) []Input {
	var order []string
	families := map[string][]rotated{}
	for _, r := range found {
		if _, ok := families[r.family]; !ok {
			order = append(order, r.family)
		}
		families[r.family] = append(families[r.family], r)
	}
	inputs := make([]Input, 0, len(found))
	for _, name := range order {
		members := families[name]
		slices.SortStableFunc(members, olderFirst)
		for _, r := range members {
			inputs = append(inputs, r.in)
		}
	}
	return inputs
}

func olderFirst(a, b rotated) int {
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	switch a.kind {
	case kindNumbered:
		return cmp.Compare(b.number, a.number)
	case kindDated:
		if c := cmp.Compare(len(a.date), len(b.date)); c != 0 {
			return c
		}
		return strings.Compare(a.date, b.date)
	}
	return 0
}

// EximRejectLogs splits off the Exim reject logs (rejectlog, exim_rejectlog,
// reject.log: log_file_path's "%s" is "reject" where the main log's is
// "main"; and their rotations) that come with their main log: Exim writes
// the first line of each rejection to both, so reading the two would count
// every rejection twice. A reject log is left out when the main log of the
// same directory, name and rotation (rejectlog.1.gz with mainlog.1,
// reject.log with main.log) is among the inputs; given without it, it is
// kept.
func EximRejectLogs(inputs []Input) (keep, skipped []Input) {
	type slot struct {
		family string // the live file's path, with "rejectlog" for "mainlog"
		kind   rotationKind
		number int
		date   string
	}
	slotOf := func(r rotated, name string) slot {
		return slot{filepath.Join(filepath.Dir(r.family), name), r.kind, r.number, r.date}
	}
	mainlogs := map[slot]bool{}
	for _, in := range inputs {
		if in.IsStdin() {
			continue
		}
		r := newRotated(in)
		if base := filepath.Base(r.family); strings.Contains(base, "main") {
			i := strings.LastIndex(base, "main") // "mx-main.log" and "domain-mainlog" alike
			mainlogs[slotOf(r, base[:i]+"reject"+base[i+len("main"):])] = true
		}
	}
	for _, in := range inputs {
		if !in.IsStdin() {
			r := newRotated(in)
			if base := filepath.Base(r.family); strings.Contains(base, "reject") && mainlogs[slotOf(r, base)] {
				skipped = append(skipped, in)
				continue
			}
		}
		keep = append(keep, in)
	}
	return keep, skipped
}
