//go:build linux

package ingest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// unreadableEnv carries the file to the re-executed test as an unprivileged
// user.
const unreadableEnv = "INGEST_TEST_UNREADABLE"

// Root reads any file whatever its mode, so as root the test binary runs
// itself again as nobody: the error is then a real EACCES from the kernel.
func TestPermissionDenied(t *testing.T) {
	if path := os.Getenv(unreadableEnv); path != "" {
		hint := "run as root"
		if strings.HasSuffix(path, "own.log") {
			hint = "the file is yours but not readable: chmod u+r"
		}
		checkPermissionDenied(t, path, hint)
		return
	}
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "mail.log"), []byte("Nov 28 10:00:00 mail postfix/qmgr[2]: 4F2A: removed\n"))
	own := writeFile(t, filepath.Join(dir, "own.log"), []byte("Nov 28 10:00:00 mail postfix/qmgr[2]: 4F2A: removed\n"))
	if os.Geteuid() != 0 {
		if err := os.Chmod(own, 0); err != nil {
			t.Fatal(err)
		}
		checkPermissionDenied(t, own, "the file is yours but not readable: chmod u+r")
		return
	}
	// Debian's arrangement: root:adm 0640.
	if err := os.Chown(path, 0, 4); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	runAsNobody(t, dir, dir, "TestPermissionDenied", unreadableEnv+"="+path)
	// A file of one's own made unreadable (chmod 000): no group helps.
	if err := os.Chown(own, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(own, 0); err != nil {
		t.Fatal(err)
	}
	runAsNobody(t, dir, dir, "TestPermissionDenied", unreadableEnv+"="+own)
}

// runAsNobody runs one test of this package again, as user nobody, from a
// copy of the test binary in dir (which nobody must be able to reach), in
// workDir, with env added: as root, chmod cannot make a file unreadable,
// and only a real EACCES shows what a user sees.
func runAsNobody(t *testing.T, dir, workDir, test, env string) {
	t.Helper()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ingest.test")
	copyFile(t, exe, bin)
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	t.Logf("as nobody:\n%s", out)
}

func checkPermissionDenied(t *testing.T, path, hint string) {
	ins, err := Expand([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ins[0], Options{})
	if err == nil {
		r.Close()
		t.Fatal("Open succeeded")
	}
	want := "open " + path + ": permission denied; " + hint
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want it to start with %q", err, want)
	}
	t.Log(err)
}

func copyFile(t *testing.T, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
