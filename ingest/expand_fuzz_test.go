package ingest

import (
	"slices"
	"testing"
)

// FuzzRotationOrder: any file names go through the rotation ordering; the
// result holds each input once, and every family oldest first.
func FuzzRotationOrder(f *testing.F) {
	for _, s := range [][3]string{
		{"mail.log", "mail.log.1", "mail.log.2.gz"},
		{"maillog-20261128.gz", "maillog", "maillog-20261127"},
		{"mainlog.0", "mainlog.10.zst", "mainlog-2026-11-28T07:00"},
		{".gz", "..1", "-12345678"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var found []rotated
		for _, p := range []string{a, b, c} {
			found = append(found, newRotated(Input{Path: p}))
		}
		out := orderRotations(found)
		var in, got []string
		for _, r := range found {
			in = append(in, r.in.Path)
		}
		for _, o := range out {
			got = append(got, o.Path)
		}
		slices.Sort(in)
		slices.Sort(got)
		if !slices.Equal(in, got) {
			t.Fatalf("ordered %v, from %v", got, in)
		}
		fam := map[string]rotated{}
		for _, o := range out {
			r := newRotated(o)
			if prev, ok := fam[r.family]; ok && olderFirst(prev, r) > 0 {
				t.Errorf("%q before %q", prev.in.Path, o.Path)
			}
			fam[r.family] = r
		}
	})
}
