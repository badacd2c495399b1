/*
 * pbuf.h: the byte format of the stored per-chunk partial aggregates
 * (partial.c, cube.c): integers as zigzag varints appended to a growing
 * buffer, and a reader that checks every length against the end.
 *
 * Never: trusts what it reads: a reader past the end or with a varint
 * too long sets bad and gives 0 from then on, so a damaged blob is noticed
 * by its caller, never read out of bounds.
 */
#ifndef SE_PBUF_H
#define SE_PBUF_H

#include "vec.h"

#include <stddef.h>
#include <stdint.h>

typedef struct se_pbuf {
	unsigned char *data;
	size_t len, cap;
	int nomem;
} se_pbuf;

static inline void se_pbuf_u64(se_pbuf *b, uint64_t v)
{
	if (se_vec_reserve(&b->data, &b->cap, b->len + 10, 1, 4096, 0) != SE_OK) {
		b->nomem = 1;
		return;
	}
	while (v >= 0x80) {
		b->data[b->len++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	b->data[b->len++] = (unsigned char)v;
}

/* Signed values small in magnitude either way take few bytes. */
static inline void se_pbuf_i64(se_pbuf *b, int64_t v)
{
	se_pbuf_u64(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

typedef struct se_preader {
	const unsigned char *p, *end;
	int bad;
} se_preader;

static inline uint64_t se_pread_u64(se_preader *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		unsigned char c;

		if (r->p >= r->end)
			break;
		c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->bad = 1;
	r->p = r->end;
	return 0;
}

static inline int64_t se_pread_i64(se_preader *r)
{
	uint64_t u = se_pread_u64(r);

	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A count of items each at least min_bytes long: bad when the rest of the
 * blob could not hold them (so a damaged count never drives a huge loop). */
static inline uint64_t se_pread_count(se_preader *r, size_t min_bytes)
{
	uint64_t n = se_pread_u64(r);

	if (min_bytes > 0 && n > (uint64_t)(r->end - r->p) / min_bytes) {
		r->bad = 1;
		r->p = r->end;
		return 0;
	}
	return n;
}

#endif
