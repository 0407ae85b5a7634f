package ingest

import (
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
)

// watcher turns inotify events about the followed file into wake-ups, so
// that a line reaches the caller at once rather than at the next poll.
// Directories are watched, not the file: a file watch dies with a rotation,
// and a directory watch also sees the new file appear. Polling stays the
// fallback, for what inotify misses (NFS, an overflowed queue) and when it
// is unavailable (no more watches).
type watcher struct {
	fs      *fsnotify.Watcher
	wake    chan struct{}
	log     *slog.Logger
	path    string
	base    string
	target  atomic.Pointer[string] // the file a symlink at path points to
	watched map[string]bool        // used by the follower's goroutine only
}

func newWatcher(path string, log *slog.Logger) *watcher {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("no inotify; polling only", "err", err)
		return nil
	}
	w := &watcher{
		fs:      fw,
		wake:    make(chan struct{}, 1),
		log:     log,
		path:    filepath.Clean(path),
		base:    filepath.Base(path),
		watched: map[string]bool{},
	}
	go w.run()
	return w
}

func (w *watcher) run() {
	for {
		select {
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.relevant(ev) {
				w.poke()
			}
		case _, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			// An overflow: something may have been missed.
			w.poke()
		}
	}
}

func (w *watcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// relevant keeps the wake-ups to the followed file and its rotations: in
// /var/log other logs are written all the time.
func (w *watcher) relevant(ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	if name == w.path || strings.HasPrefix(filepath.Base(name), w.base) {
		return true
	}
	t := w.target.Load()
	return t != nil && name == *t
}

// add watches the directory of path and, if path is a symlink, that of its
// target. A directory that does not exist yet is tried again next time.
func (w *watcher) add() {
	dirs := []string{filepath.Dir(w.path)}
	if t, err := filepath.EvalSymlinks(w.path); err == nil && t != w.path {
		w.target.Store(&t)
		dirs = append(dirs, filepath.Dir(t))
	}
	for _, d := range dirs {
		if w.watched[d] {
			continue
		}
		if err := w.fs.Add(d); err != nil {
			w.log.Debug("inotify watch", "dir", d, "err", err)
			continue
		}
		w.watched[d] = true
	}
}

func (w *watcher) close() { w.fs.Close() }

// watchTarget (re)starts watching after the live file was opened: a
// symlink may now point elsewhere.
func (f *Follower) watchTarget() {
	if f.watch != nil {
		f.watch.add()
	}
}
