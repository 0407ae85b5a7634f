package store

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The SQLite library is the one github.com/mattn/go-sqlite3 compiles into
// the binary; these are its stable C interfaces (the same as sqlite3.h).
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef struct sqlite3_context sqlite3_context;
typedef struct sqlite3_value sqlite3_value;
typedef struct sqlite3_api_routines sqlite3_api_routines;
extern int sqlite3_auto_extension(void (*)(void));
extern int sqlite3_create_function(sqlite3 *, const char *, int, int, void *,
	void (*)(sqlite3_context *, int, sqlite3_value **),
	void (*)(sqlite3_context *, int, sqlite3_value **), void (*)(sqlite3_context *));
extern sqlite3 *sqlite3_context_db_handle(sqlite3_context *);
extern void sqlite3_result_int64(sqlite3_context *, int64_t);
extern int sqlite3_prepare_v3(sqlite3 *, const char *, int, unsigned int, sqlite3_stmt **, const char **);
extern int sqlite3_bind_int64(sqlite3_stmt *, int, int64_t);
extern int sqlite3_bind_double(sqlite3_stmt *, int, double);
extern int sqlite3_bind_null(sqlite3_stmt *, int);
extern int sqlite3_bind_text(sqlite3_stmt *, int, const char *, int, void (*)(void *));
extern int sqlite3_bind_blob(sqlite3_stmt *, int, const void *, int, void (*)(void *));
extern int sqlite3_step(sqlite3_stmt *);
extern int sqlite3_bind_parameter_count(sqlite3_stmt *);
extern int sqlite3_get_autocommit(sqlite3 *);
extern int sqlite3_reset(sqlite3_stmt *);
extern int sqlite3_finalize(sqlite3_stmt *);
extern sqlite3 *sqlite3_db_handle(sqlite3_stmt *);
extern int64_t sqlite3_last_insert_rowid(sqlite3 *);
extern int sqlite3_extended_errcode(sqlite3 *);
extern const char *sqlite3_errmsg(sqlite3 *);

#define MB_SQLITE_UTF8 1
#define MB_SQLITE_DIRECTONLY 0x000080000
#define MB_SQLITE_DONE 101
#define MB_SQLITE_PREPARE_PERSISTENT 0x01
#define MB_SQLITE_STATIC ((void (*)(void *))0)

// mailbounce_conn_handle() returns the connection it runs on, so that the
// writer can run its hottest statements from C on the connection (and in
// the transaction) that database/sql holds. DIRECTONLY: not from triggers
// or views.
static void mb_conn_handle(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	(void)argv;
	sqlite3_result_int64(ctx, (int64_t)(intptr_t)sqlite3_context_db_handle(ctx));
}

// bloom.c
extern int mb_bloom_register(sqlite3 *db);

static int mb_extension(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
	(void)err;
	(void)api;
	int rc = sqlite3_create_function(db, "mailbounce_conn_handle", 0,
		MB_SQLITE_UTF8 | MB_SQLITE_DIRECTONLY, 0, mb_conn_handle, 0, 0);
	return rc ? rc : mb_bloom_register(db);
}

static int mb_register(void) { return sqlite3_auto_extension((void (*)(void))mb_extension); }

// mb_stmt is a statement and the buffer its text and blob values are bound
// from: copied there once per row, and bound without another copy.
typedef struct {
	sqlite3_stmt *st;
	char *arena;
	size_t cap;
} mb_stmt;

static mb_stmt *mb_prepare(int64_t handle, const char *sql, int *rc) {
	sqlite3_stmt *st = 0;
	*rc = sqlite3_prepare_v3((sqlite3 *)(intptr_t)handle, sql, -1, MB_SQLITE_PREPARE_PERSISTENT, &st, 0);
	if (*rc != 0 || st == 0) {
		if (st) sqlite3_finalize(st);
		if (*rc == 0) *rc = 21; // SQLITE_MISUSE: no statement in the text
		return 0;
	}
	mb_stmt *s = calloc(1, sizeof *s);
	if (!s) {
		sqlite3_finalize(st);
		*rc = 7; // SQLITE_NOMEM
		return 0;
	}
	s->st = st;
	return s;
}

static void mb_finalize(mb_stmt *s) {
	sqlite3_finalize(s->st);
	free(s->arena);
	free(s);
}

enum { MB_NULL, MB_INT, MB_REAL, MB_TEXT, MB_BLOB };

// mb_bind_step binds n values and runs the statement once. A text or blob
// value is (offset << 32 | length) into base. It returns 0 or the extended
// error code.
static int mb_bind_step(sqlite3_stmt *st, int n, const uint8_t *kinds, const int64_t *vals, const char *base) {
	// Every parameter is bound on every run: none may stay bound to an
	// arena that has moved since.
	if (n != sqlite3_bind_parameter_count(st)) return 25; // SQLITE_RANGE
	// The writer writes in transactions only: outside one (SQLite rolled
	// it back after an error), a row would be kept on its own.
	if (sqlite3_get_autocommit(sqlite3_db_handle(st))) return 4; // SQLITE_ABORT
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		int64_t v = vals[i];
		switch (kinds[i]) {
		case MB_NULL:
			rc = sqlite3_bind_null(st, i + 1);
			break;
		case MB_INT:
			rc = sqlite3_bind_int64(st, i + 1, v);
			break;
		case MB_REAL: {
			double d;
			memcpy(&d, &v, sizeof d);
			rc = sqlite3_bind_double(st, i + 1, d);
			break;
		}
		case MB_TEXT: {
			// A NULL pointer would bind NULL: "" is not NULL.
			int l = (int)(v & 0xffffffff);
			rc = sqlite3_bind_text(st, i + 1, l ? base + (v >> 32) : "", l, MB_SQLITE_STATIC);
			break;
		}
		default: {
			int l = (int)(v & 0xffffffff);
			rc = sqlite3_bind_blob(st, i + 1, l ? base + (v >> 32) : "", l, MB_SQLITE_STATIC);
			break;
		}
		}
	}
	if (rc == 0) {
		rc = sqlite3_step(st);
		rc = rc == MB_SQLITE_DONE ? 0 : sqlite3_extended_errcode(sqlite3_db_handle(st));
	}
	// reset ends the statement, so that COMMIT does not see it running.
	// The values stay bound to the arena they were copied to, which lives
	// until they are bound again or the statement is finalized.
	sqlite3_reset(st);
	return rc;
}

// mb_reserve makes *arena hold at least len bytes.
static int mb_reserve(char **arena, size_t *cap, size_t len) {
	if (len <= *cap) return 0;
	// A statement may still be bound to the old arena: every value is
	// bound again before a statement runs.
	size_t c = len < 4096 ? 4096 : len * 2;
	char *a = realloc(*arena, c);
	if (!a) return 7; // SQLITE_NOMEM
	*arena = a;
	*cap = c;
	return 0;
}

// mb_exec runs one statement with buf's len bytes of text and blob values
// copied to its own arena, and gives the new row's id in *rowid.
static int mb_exec(mb_stmt *s, int n, const uint8_t *kinds, const int64_t *vals,
	const char *buf, size_t len, int64_t *rowid) {
	int rc = mb_reserve(&s->arena, &s->cap, len);
	if (rc) return rc;
	if (len) memcpy(s->arena, buf, len);
	rc = mb_bind_step(s->st, n, kinds, vals, s->arena);
	if (rc == 0) *rowid = sqlite3_last_insert_rowid(sqlite3_db_handle(s->st));
	return rc;
}

// mb_rows_arena is where mb_exec_rows copies the rows' text: one per
// writer, used by one thread at a time.
typedef struct {
	char *p;
	size_t cap;
} mb_rows_arena;

// mb_exec_rows runs nrows statements in order, row i being stmts[i] with
// nvals[i] values, the values of all rows one after the other in kinds and
// vals, their text in text (len bytes). It stops at the first error: the
// row's index in *failed, its message copied to errbuf.
static int mb_exec_rows(mb_stmt **stmts, const int32_t *nvals, int nrows, const uint8_t *kinds,
	const int64_t *vals, const char *text, size_t len, mb_rows_arena *a, int *failed,
	char *errbuf, int errlen) {
	int rc = mb_reserve(&a->p, &a->cap, len);
	if (rc) {
		*failed = 0;
		return rc;
	}
	if (len) memcpy(a->p, text, len);
	size_t at = 0;
	for (int r = 0; r < nrows; r++) {
		rc = mb_bind_step(stmts[r]->st, nvals[r], kinds + at, vals + at, a->p);
		if (rc) {
			*failed = r;
			const char *m = sqlite3_errmsg(sqlite3_db_handle(stmts[r]->st));
			if (errlen > 0) {
				strncpy(errbuf, m ? m : "", errlen - 1);
				errbuf[errlen - 1] = 0;
			}
			return rc;
		}
		at += nvals[r];
	}
	return 0;
}

static const char *mb_errmsg(mb_stmt *s) { return sqlite3_errmsg(sqlite3_db_handle(s->st)); }
static const char *mb_db_errmsg(int64_t handle) { return sqlite3_errmsg((sqlite3 *)(intptr_t)handle); }
*/
import "C"

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"unsafe"

	"github.com/mattn/go-sqlite3"
)

// The writer runs its most frequent statements (one per stored attempt,
// message and reject) through cStmt: bound and stepped in one call into C
// instead of one per value, and without database/sql's conversions. At a
// few hundred thousand rows per second that overhead was most of the
// time spent outside SQLite itself.

func init() {
	if rc := C.mb_register(); rc != 0 {
		panic(fmt.Sprintf("store: register the SQLite connection hook: error %d", int(rc)))
	}
}

// connHandle is the SQLite connection that tx runs on.
func connHandle(ctx context.Context, tx *sql.Tx) (int64, error) {
	var h int64
	err := tx.QueryRowContext(ctx, `SELECT mailbounce_conn_handle()`).Scan(&h)
	return h, err
}

// cStmt is a statement prepared in C on one connection. It is not safe for
// concurrent use: the writer connection has one user at a time.
type cStmt struct {
	st    *C.mb_stmt
	kinds []uint8
	vals  []int64
	buf   []byte
}

func prepareC(handle int64, query string) (*cStmt, error) {
	cs := C.CString(query)
	defer C.free(unsafe.Pointer(cs))
	var rc C.int
	st := C.mb_prepare(C.int64_t(handle), cs, &rc)
	if st == nil {
		return nil, sqliteErr(int(rc), "prepare statement: "+C.GoString(C.mb_db_errmsg(C.int64_t(handle))))
	}
	return &cStmt{st: st}, nil
}

func (s *cStmt) close() {
	if s != nil && s.st != nil {
		C.mb_finalize(s.st)
		s.st = nil
	}
}

// exec runs the statement with args (nil, bool, int, int64, float64,
// string, []byte) and returns the id of the row it inserted, if any.
func (s *cStmt) exec(args ...any) (int64, error) {
	s.kinds, s.vals, s.buf = s.kinds[:0], s.vals[:0], s.buf[:0]
	for _, a := range args {
		kind, v, err := packValue(a, &s.buf)
		if err != nil {
			return 0, err
		}
		s.add(kind, v)
	}
	if len(s.buf) > math.MaxInt32 {
		return 0, fmt.Errorf("store: values of %d bytes are too long for one row", len(s.buf))
	}
	var buf *C.char
	if len(s.buf) > 0 {
		buf = (*C.char)(unsafe.Pointer(&s.buf[0]))
	}
	var kinds *C.uint8_t
	var vals *C.int64_t
	if len(s.kinds) > 0 {
		kinds = (*C.uint8_t)(unsafe.Pointer(&s.kinds[0]))
		vals = (*C.int64_t)(unsafe.Pointer(&s.vals[0]))
	}
	var rowid C.int64_t
	rc := C.mb_exec(s.st, C.int(len(s.kinds)), kinds, vals, buf, C.size_t(len(s.buf)), &rowid)
	if rc != 0 {
		return 0, sqliteErr(int(rc), C.GoString(C.mb_errmsg(s.st)))
	}
	return int64(rowid), nil
}

// packValue gives a value's kind and its int64 form; a text or blob value
// is appended to buf and given as (offset << 32 | length).
func packValue(a any, buf *[]byte) (uint8, int64, error) {
	switch v := a.(type) {
	case nil:
		return kindNull, 0, nil
	case int64:
		return kindInt, v, nil
	case int:
		return kindInt, int64(v), nil
	case bool:
		if v {
			return kindInt, 1, nil
		}
		return kindInt, 0, nil
	case float64:
		return kindReal, int64(math.Float64bits(v)), nil
	case string:
		off := len(*buf)
		*buf = append(*buf, v...)
		return kindText, int64(off)<<32 | int64(len(v)), nil
	case []byte:
		if v == nil {
			return kindNull, 0, nil
		}
		off := len(*buf)
		*buf = append(*buf, v...)
		return kindBlob, int64(off)<<32 | int64(len(v)), nil
	}
	return 0, 0, fmt.Errorf("store: cannot bind a %T", a)
}

// The kinds of packed values, for rowQueue's typed appenders.
const (
	kindNull = uint8(C.MB_NULL)
	kindInt  = uint8(C.MB_INT)
	kindReal = uint8(C.MB_REAL)
	kindText = uint8(C.MB_TEXT)
	kindBlob = uint8(C.MB_BLOB)
)

// cStmtPtr is a statement as rowQueue keeps it.
type cStmtPtr = *C.mb_stmt

func (s *cStmt) ptr() cStmtPtr { return s.st }

// rowsArena is the C memory execRows copies a queue's text to.
type rowsArena = *C.mb_rows_arena

func newRowsArena() rowsArena {
	return (*C.mb_rows_arena)(C.calloc(1, C.size_t(unsafe.Sizeof(C.mb_rows_arena{}))))
}

func freeRowsArena(a rowsArena) {
	C.free(unsafe.Pointer(a.p))
	C.free(unsafe.Pointer(a))
}

// execRows runs the rows of q in order, stopping at the first error.
func execRows(q *rowQueue, arena rowsArena) error {
	if len(q.stmts) == 0 {
		return nil
	}
	var kinds *C.uint8_t
	var vals *C.int64_t
	if len(q.kinds) > 0 {
		kinds = (*C.uint8_t)(unsafe.Pointer(&q.kinds[0]))
		vals = (*C.int64_t)(unsafe.Pointer(&q.vals[0]))
	}
	var text *C.char
	if len(q.text) > 0 {
		text = (*C.char)(unsafe.Pointer(&q.text[0]))
	}
	var failed C.int
	var msg [256]C.char
	rc := C.mb_exec_rows(&q.stmts[0], (*C.int32_t)(unsafe.Pointer(&q.nvals[0])), C.int(len(q.stmts)),
		kinds, vals, text, C.size_t(len(q.text)), arena, &failed, &msg[0], C.int(len(msg)))
	if rc != 0 {
		return fmt.Errorf("%s: %w", q.what[failed], sqliteErr(int(rc), C.GoString(&msg[0])))
	}
	return nil
}

func (s *cStmt) add(kind uint8, v int64) {
	s.kinds = append(s.kinds, kind)
	s.vals = append(s.vals, v)
}

// sqliteErr is an error from the C path in the form the driver gives its
// own, so that wrapErr recognises a full disk or a busy database alike.
func sqliteErr(rc int, msg string) error {
	return fmt.Errorf("%s: %w", msg, sqlite3.Error{
		Code:         sqlite3.ErrNo(rc & 0xff),
		ExtendedCode: sqlite3.ErrNoExtended(rc),
	})
}
