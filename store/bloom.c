// A Bloom filter of queue IDs, one per SQLite connection, for stitching
// (stitch.go). Stitching asks, for every stored attempt whose reply named a
// queue ID, whether some message has that queue ID: at the end of a bulk
// load, a million lookups in messages_queue, and most of them find nothing
// (a Gmail or Microsoft queue ID is never ours). The filter answers "no"
// for most of those from memory, and stitching looks up only the rest.
//
// mailbounce_bloom_reset(n) makes an empty filter for about n names (frees
// it when n <= 0); mailbounce_bloom_add(name) adds one; and
// mailbounce_bloom_has(name) is 0 only when name was surely not added, and
// 1 when there is no filter. The functions are registered on every
// connection (mb_extension in cstmt.go), for direct use only.

#include <stdint.h>
#include <stdlib.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_context sqlite3_context;
typedef struct sqlite3_value sqlite3_value;
extern int sqlite3_create_function_v2(sqlite3 *, const char *, int, int, void *,
	void (*)(sqlite3_context *, int, sqlite3_value **),
	void (*)(sqlite3_context *, int, sqlite3_value **), void (*)(sqlite3_context *),
	void (*)(void *));
extern void *sqlite3_user_data(sqlite3_context *);
extern void sqlite3_result_int64(sqlite3_context *, int64_t);
extern void sqlite3_result_error_nomem(sqlite3_context *);
extern int64_t sqlite3_value_int64(sqlite3_value *);
extern int sqlite3_value_type(sqlite3_value *);
extern const unsigned char *sqlite3_value_text(sqlite3_value *);
extern int sqlite3_value_bytes(sqlite3_value *);

#define MB_SQLITE_UTF8 1
#define MB_SQLITE_DIRECTONLY 0x000080000
#define MB_SQLITE_NULL 5

// 16 bits per name and 3 probes: about 1 false "maybe" in 300. The filter
// is at most 4 MB; with more names it answers "maybe" more often, which
// costs lookups, never a wrong answer.
#define MB_BLOOM_MIN_BITS (1u << 16)
#define MB_BLOOM_MAX_BITS (1u << 25)

typedef struct {
	uint64_t *bits;
	uint64_t mask; // bits in the filter - 1; 0 when there is none
} mb_bloom;

static void mb_bloom_destroy(void *p) {
	mb_bloom *b = p;
	if (b) {
		free(b->bits);
		free(b);
	}
}

// mb_bloom_hash is FNV-1a with a final mix, so that the two halves used
// for the probes are both well spread.
static uint64_t mb_bloom_hash(const unsigned char *s, int n) {
	uint64_t h = 14695981039346656037ull;
	for (int i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static void mb_bloom_reset(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	mb_bloom *b = sqlite3_user_data(ctx);
	int64_t n = sqlite3_value_int64(argv[0]);
	free(b->bits);
	b->bits = 0;
	b->mask = 0;
	if (n > 0) {
		uint64_t size = MB_BLOOM_MIN_BITS;
		while (size < (uint64_t)n * 16 && size < MB_BLOOM_MAX_BITS) size <<= 1;
		b->bits = calloc(size / 64, sizeof(uint64_t));
		if (!b->bits) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
		b->mask = size - 1;
	}
	sqlite3_result_int64(ctx, (int64_t)(b->mask ? b->mask + 1 : 0));
}

// mb_bloom_probe gives the filter's bits for the text value v.
static void mb_bloom_probe(const mb_bloom *b, sqlite3_value *v, uint64_t bits[3]) {
	const unsigned char *s = sqlite3_value_text(v);
	uint64_t h = mb_bloom_hash(s, sqlite3_value_bytes(v));
	uint64_t h1 = h & 0xffffffff, h2 = (h >> 32) | 1;
	for (int i = 0; i < 3; i++) bits[i] = (h1 + i * h2) & b->mask;
}

static void mb_bloom_add(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	mb_bloom *b = sqlite3_user_data(ctx);
	if (!b->bits || sqlite3_value_type(argv[0]) == MB_SQLITE_NULL) {
		sqlite3_result_int64(ctx, 0);
		return;
	}
	uint64_t bits[3];
	mb_bloom_probe(b, argv[0], bits);
	for (int i = 0; i < 3; i++) b->bits[bits[i] >> 6] |= 1ull << (bits[i] & 63);
	sqlite3_result_int64(ctx, 1);
}

static void mb_bloom_has(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
	(void)argc;
	mb_bloom *b = sqlite3_user_data(ctx);
	if (sqlite3_value_type(argv[0]) == MB_SQLITE_NULL) {
		sqlite3_result_int64(ctx, 0); // NULL equals no queue ID
		return;
	}
	if (!b->bits) {
		sqlite3_result_int64(ctx, 1);
		return;
	}
	uint64_t bits[3];
	mb_bloom_probe(b, argv[0], bits);
	int has = 1;
	for (int i = 0; i < 3; i++) has &= (b->bits[bits[i] >> 6] >> (bits[i] & 63)) & 1;
	sqlite3_result_int64(ctx, has);
}

// mb_bloom_register adds the functions to a connection, with a filter of
// its own that lives as long as the connection.
int mb_bloom_register(sqlite3 *db) {
	mb_bloom *b = calloc(1, sizeof *b);
	if (!b) return 7; // SQLITE_NOMEM
	int flags = MB_SQLITE_UTF8 | MB_SQLITE_DIRECTONLY;
	int rc = sqlite3_create_function_v2(db, "mailbounce_bloom_add", 1, flags, b, mb_bloom_add, 0, 0, 0);
	if (rc == 0) rc = sqlite3_create_function_v2(db, "mailbounce_bloom_has", 1, flags, b, mb_bloom_has, 0, 0, 0);
	if (rc != 0) {
		sqlite3_create_function_v2(db, "mailbounce_bloom_add", 1, flags, 0, 0, 0, 0, 0);
		free(b);
		return rc;
	}
	// Last, and the only one that frees b: when the connection closes, or
	// at once if this fails, and then the others must not keep it.
	rc = sqlite3_create_function_v2(db, "mailbounce_bloom_reset", 1, flags, b, mb_bloom_reset, 0, 0,
		mb_bloom_destroy);
	if (rc != 0) {
		sqlite3_create_function_v2(db, "mailbounce_bloom_add", 1, flags, 0, 0, 0, 0, 0);
		sqlite3_create_function_v2(db, "mailbounce_bloom_has", 1, flags, 0, 0, 0, 0, 0);
	}
	return rc;
}
