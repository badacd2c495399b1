/*
 * colmap.c: columns{} declarations and their binding to a header (see
 * colmap.h).
 *
 * Header names are compared as people read them, not as bytes: exports
 * differ from release to release and from the user's memory in case, in
 * spaces and in "ё" (amoCRM writes "Счёт", a user types "Счет"), and a
 * mapping that fails on those would fail on every real file.  Anything
 * beyond that (a different word) is reported with the closest names, not
 * guessed.
 */
#include "colmap.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_FIELDS 16          /* >= F_COUNT of import.h */
#define MAX_NAME_CHARS 256   /* longer header names compare on this prefix */

struct se_colmap {
	char *column[N_FIELDS];
	char *value[N_FIELDS];
	char *ts_format;
	se_time_layout layout;
};

int se_colmap_new(se_colmap **out)
{
	*out = calloc(1, sizeof **out);
	return *out == NULL ? SE_ENOMEM : SE_OK;
}

void se_colmap_free(se_colmap *m)
{
	if (m == NULL)
		return;
	for (int f = 0; f < N_FIELDS; f++) {
		free(m->column[f]);
		free(m->value[f]);
	}
	free(m->ts_format);
	free(m);
}

static int replace(char **slot, const char *text, se_error *err)
{
	char *copy = NULL;

	if (text != NULL && (copy = strdup(text)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	free(*slot);
	*slot = copy;
	return SE_OK;
}

int se_colmap_set_column(se_colmap *m, int field, const char *header, se_error *err)
{
	int rc;

	if (field < 0 || field >= N_FIELDS)
		return se_error_set(err, SE_EUSAGE, "no such field");
	if (se_header_names_equal(header, strlen(header), "", 0))
		return se_error_set(err, SE_EUSAGE, "the column name is empty");
	/* One column read as two fields is a slip, not a mapping. */
	if (se_colmap_field_of(m, header) >= 0 && se_colmap_field_of(m, header) != field)
		return se_error_set(err, SE_EUSAGE, "\"%s\" is already another field's column", header);
	if ((rc = replace(&m->column[field], header, err)) != SE_OK)
		return rc;
	return replace(&m->value[field], NULL, err);
}

int se_colmap_set_value(se_colmap *m, int field, const char *value, se_error *err)
{
	int rc;

	if (field < 0 || field >= N_FIELDS)
		return se_error_set(err, SE_EUSAGE, "no such field");
	if ((rc = replace(&m->value[field], value, err)) != SE_OK)
		return rc;
	return replace(&m->column[field], NULL, err);
}

int se_colmap_set_ts_format(se_colmap *m, const char *layout, se_error *err)
{
	se_time_layout lay;
	const char *why = NULL;

	if (se_time_layout_compile(layout, &lay, &why) != SE_OK)
		return se_error_set(err, SE_EUSAGE, "ts_format \"%s\": %s", layout, why);
	m->layout = lay;
	return replace(&m->ts_format, layout, err);
}

int se_colmap_field_of(const se_colmap *m, const char *header)
{
	for (int f = 0; f < N_FIELDS; f++)
		if (m->column[f] != NULL &&
		    se_header_names_equal(header, strlen(header), m->column[f], strlen(m->column[f])))
			return f;
	return -1;
}

int se_colmap_claims(const se_colmap *m, int field)
{
	return field >= 0 && field < N_FIELDS && (m->column[field] != NULL || m->value[field] != NULL);
}

const char *se_colmap_column(const se_colmap *m, int field)
{
	return field >= 0 && field < N_FIELDS ? m->column[field] : NULL;
}

const char *se_colmap_value(const se_colmap *m, int field, size_t *len)
{
	if (field < 0 || field >= N_FIELDS || m->value[field] == NULL)
		return NULL;
	*len = strlen(m->value[field]);
	return m->value[field];
}

const se_time_layout *se_colmap_ts_layout(const se_colmap *m)
{
	return m->ts_format != NULL ? &m->layout : NULL;
}

const char *se_colmap_ts_format(const se_colmap *m)
{
	return m->ts_format;
}

/* ---- comparing header names ------------------------------------------------- */

/* The folded code points of a name, trimmed, spaces collapsed. */
static size_t folded(const char *s, size_t len, uint32_t *out)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t n = 0;

	while (p < end && n < MAX_NAME_CHARS) {
		uint32_t c = se_utf8_fold(se_utf8_next(&p, end));

		if (c == ' ' && (n == 0 || out[n - 1] == ' '))
			continue;
		out[n++] = c;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	return n;
}

int se_header_names_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	uint32_t fa[MAX_NAME_CHARS], fb[MAX_NAME_CHARS];
	size_t na = folded(a, alen, fa), nb = folded(b, blen, fb);

	return na == nb && memcmp(fa, fb, na * sizeof fa[0]) == 0;
}

static int contains(const uint32_t *hay, size_t nh, const uint32_t *needle, size_t nn)
{
	if (nn == 0 || nn > nh)
		return 0;
	for (size_t i = 0; i + nn <= nh; i++)
		if (memcmp(hay + i, needle, nn * sizeof *hay) == 0)
			return 1;
	return 0;
}

/* The header name closest to want: within a third of its length in edits,
 * or one containing the other ("Бюджет" and "Бюджет, руб."); -1 if none. */
static long closest(const char *want, const se_csv_field *names, size_t n)
{
	uint32_t fw[MAX_NAME_CHARS], fn[MAX_NAME_CHARS];
	size_t nw = folded(want, strlen(want), fw), best_d = SIZE_MAX;
	long best = -1;

	for (size_t i = 0; i < n; i++) {
		size_t nn = folded(names[i].ptr, names[i].len, fn);
		size_t d = se_edit_distance(fw, nw, fn, nn);

		if (contains(fn, nn, fw, nw) || contains(fw, nw, fn, nn))
			d = d == 0 ? 0 : 1;
		else if (d == SIZE_MAX || d > (nw + 2) / 3)
			continue;
		if (d < best_d) {
			best_d = d;
			best = (long)i;
		}
	}
	return best;
}

/* "A", "B", "C" into buf, as many as fit. */
static void list_names(const se_csv_field *names, size_t n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used + 8 < size; i++) {
		int w = snprintf(buf + used, size - used, "%s\"%.*s\"", i ? ", " : "",
		                 (int)(names[i].len > 60 ? 60 : names[i].len), names[i].ptr);

		if (w < 0 || (size_t)w >= size - used) {
			snprintf(buf + used, size - used, ", ...");
			return;
		}
		used += (size_t)w;
	}
}

int se_colmap_bind(const se_colmap *m, const se_csv_field *names, size_t n, int *field_of,
                   const char *const *field_names, se_error *err)
{
	long at[N_FIELDS];

	for (int f = 0; f < N_FIELDS; f++)
		at[f] = -1;
	for (size_t i = 0; i < n; i++) {
		field_of[i] = -1;
		for (int f = 0; f < N_FIELDS; f++) {
			if (m->column[f] == NULL ||
			    !se_header_names_equal(names[i].ptr, names[i].len, m->column[f], strlen(m->column[f])))
				continue;
			if (at[f] >= 0)
				return se_error_set(err, SE_EINPUT,
				                    "column \"%s\" (columns{} %s) appears twice in the header",
				                    m->column[f], field_names[f]);
			at[f] = (long)i;
			field_of[i] = f;
		}
	}
	for (int f = 0; f < N_FIELDS; f++) {
		char list[600];
		long near;

		if (m->column[f] == NULL || at[f] >= 0)
			continue;
		near = closest(m->column[f], names, n);
		if (near >= 0)
			return se_error_set(err, SE_EINPUT,
			                    "header has no column \"%s\" (columns{} %s); did you mean \"%.*s\"?",
			                    m->column[f], field_names[f], (int)names[near].len, names[near].ptr);
		list_names(names, n, list, sizeof list);
		return se_error_set(err, SE_EINPUT, "header has no column \"%s\" (columns{} %s); it has %s",
		                    m->column[f], field_names[f], list);
	}
	return SE_OK;
}

/* ---- identity by content ------------------------------------------------------ */

__extension__ typedef unsigned __int128 u128;

/*
 * FNV-1a, 128 bits, kept as two 64-bit halves.  The prime is
 * 2^88 + 0x13B, so a step is (h ^ byte) * 0x13B plus the low half shifted
 * into the high one (x * 2^88 mod 2^128 lives in the high half alone):
 * one 64x64 multiply with its high part and one plain multiply, never a
 * generic 128-bit product.  Each byte waits on the multiply before it,
 * which is why rows are hashed two at a time below.
 */
#define FNV_PRIME_LOW 0x13Bu

typedef struct fnv128 {
	uint64_t hi, lo;
} fnv128;

static const fnv128 fnv_basis = { 0x6c62272e07bb0142u, 0x62b821756295c58du };

static inline void fnv_byte(fnv128 *h, unsigned char b)
{
	uint64_t x = h->lo ^ b;
	u128 t = (u128)x * FNV_PRIME_LOW;

	h->hi = h->hi * FNV_PRIME_LOW + (uint64_t)(t >> 64) + (x << 24);
	h->lo = (uint64_t)t;
}

static void fnv_bytes(fnv128 *h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		fnv_byte(h, p[i]);
}

/* Lengths and the time go in as 8 little-endian bytes, so no choice of
 * deal or stage text can make two different triples hash the same input. */
static void put_u64(unsigned char *b, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(b, &v, 8);
#else
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
#endif
}

/* 16 lower-case hex digits of v, the most significant first: the nibbles
 * spread one to a byte, then each turned into its digit, all eight bytes
 * of a word at once. */
static void hex16(uint64_t v, char *out)
{
	for (int half = 0; half < 2; half++) {
		uint64_t x = half == 0 ? v >> 32 : v & 0xffffffffu;
		uint64_t letters;

		x = ((x & 0xffff0000u) << 16) | (x & 0xffffu);
		x = ((x & 0x0000ff000000ff00ull) << 8) | (x & 0x000000ff000000ffull);
		x = ((x & 0x00f000f000f000f0ull) << 4) | (x & 0x000f000f000f000full);
		/* byte k holds nibble k: the last digit comes first in memory */
		letters = ((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
		x += 0x3030303030303030ull + letters * ('a' - '0' - 10);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		x = __builtin_bswap64(x);
#endif
		memcpy(out + 8 * half, &x, 8);
	}
}

/* What "content:%016llx%016llx" prints, without printf's cost at every
 * row of a file. */
static void key_text(const fnv128 *h, char *out)
{
	memcpy(out, "content:", 8);
	hex16(h->hi, out + 8);
	hex16(h->lo, out + 24);
}

void se_content_key(const char *deal, size_t deal_len, int64_t ts, const char *stage,
                    size_t stage_len, char *out)
{
	fnv128 h = fnv_basis;
	unsigned char b[8];

	put_u64(b, deal_len);
	fnv_bytes(&h, b, 8);
	fnv_bytes(&h, deal, deal_len);
	put_u64(b, (uint64_t)ts);
	fnv_bytes(&h, b, 8);
	put_u64(b, stage_len);
	fnv_bytes(&h, b, 8);
	fnv_bytes(&h, stage, stage_len);
	key_text(&h, out);
	out[SE_CONTENT_KEY_LEN] = '\0';
}

/*
 * Many rows: one row's bytes are a chain of dependent multiplies, so two
 * rows go side by side and the processor overlaps their chains.  Each of
 * the two lanes holds one row's input (laid out as above, but for the
 * deal id's length, which starts the lane's hash) and runs until the
 * shorter is done; the finished lane takes the next row.  A row too long
 * for a lane is hashed alone.
 */
#define LANE_BYTES 192

typedef struct lane {
	unsigned char bytes[LANE_BYTES];
	const unsigned char *p;
	size_t left;
	fnv128 h;
	char *out;
} lane;

/* The hash after a row's first eight bytes (the deal id's length): the
 * same for every row whose deal ids are as long, so made once per length
 * and kept (the last one) instead of hashed for each row. */
typedef struct prefix {
	size_t deal_len;           /* SIZE_MAX: none yet */
	fnv128 h;
} prefix;

static fnv128 after_length(prefix *pre, size_t deal_len)
{
	if (pre->deal_len != deal_len) {
		unsigned char b[8];

		pre->h = fnv_basis;
		put_u64(b, deal_len);
		fnv_bytes(&pre->h, b, 8);
		pre->deal_len = deal_len;
	}
	return pre->h;
}

/* Loads the next row that fits a lane into ln (hashing the ones that do
 * not on the way); 0 when no row is left. */
static int lane_load(lane *ln, const se_content_row *rows, size_t n, size_t *next, prefix *pre)
{
	while (*next < n) {
		const se_content_row *r = &rows[(*next)++];
		unsigned char *b = ln->bytes;

		if (r->deal_len > LANE_BYTES - 16 || r->stage_len > LANE_BYTES - 16 - r->deal_len) {
			char key[SE_CONTENT_KEY_LEN + 1];

			se_content_key(r->deal, r->deal_len, r->ts, r->stage, r->stage_len, key);
			memcpy(r->out, key, SE_CONTENT_KEY_LEN);
			continue;
		}
		memcpy(b, r->deal, r->deal_len);
		b += r->deal_len;
		put_u64(b, (uint64_t)r->ts);
		put_u64(b + 8, r->stage_len);
		memcpy(b + 16, r->stage, r->stage_len);
		ln->p = ln->bytes;
		ln->left = 16 + r->deal_len + r->stage_len;
		ln->h = after_length(pre, r->deal_len);
		ln->out = r->out;
		return 1;
	}
	return 0;
}

/* m bytes into each of two hashes.  Plain locals and a function of its
 * own: with the lanes' other state around, the compiler kept one half in
 * memory, and a store and a load on the chain cost as much as the
 * multiply. */
__attribute__((noinline)) static void fnv_two(fnv128 *ha, const unsigned char *pa, fnv128 *hb, const unsigned char *pb,
                    size_t m)
{
	uint64_t ahi = ha->hi, alo = ha->lo, bhi = hb->hi, blo = hb->lo;

	for (size_t i = 0; i < m; i++) {
		uint64_t xa = alo ^ pa[i], xb = blo ^ pb[i];
		u128 ta = (u128)xa * FNV_PRIME_LOW, tb = (u128)xb * FNV_PRIME_LOW;

		ahi = ahi * FNV_PRIME_LOW + (uint64_t)(ta >> 64) + (xa << 24);
		bhi = bhi * FNV_PRIME_LOW + (uint64_t)(tb >> 64) + (xb << 24);
		alo = (uint64_t)ta;
		blo = (uint64_t)tb;
	}
	ha->hi = ahi;
	ha->lo = alo;
	hb->hi = bhi;
	hb->lo = blo;
}

void se_content_keys(const se_content_row *rows, size_t n)
{
	lane a, b;
	prefix pre = { SIZE_MAX, { 0, 0 } };
	size_t next = 0;
	int a_live = lane_load(&a, rows, n, &next, &pre);
	int b_live = a_live && lane_load(&b, rows, n, &next, &pre);

	while (a_live && b_live) {
		size_t m = a.left < b.left ? a.left : b.left;

		fnv_two(&a.h, a.p, &b.h, b.p, m);
		a.p += m;
		a.left -= m;
		b.p += m;
		b.left -= m;
		if (a.left == 0) {
			key_text(&a.h, a.out);
			a_live = lane_load(&a, rows, n, &next, &pre);
		}
		if (b.left == 0) {
			key_text(&b.h, b.out);
			b_live = lane_load(&b, rows, n, &next, &pre);
		}
	}
	/* The rows are all loaded: what a lane still holds ends alone. */
	if (a_live) {
		fnv_bytes(&a.h, a.p, a.left);
		key_text(&a.h, a.out);
	}
	if (b_live) {
		fnv_bytes(&b.h, b.p, b.left);
		key_text(&b.h, b.out);
	}
}
