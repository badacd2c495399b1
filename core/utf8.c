/*
 * utf8.c: a table-free decoder following RFC 3629's well-formed byte
 * sequences (Unicode 15, table 3-7), so the importer rejects exactly what a
 * strict UTF-8 consumer (SQLite tools, browsers, jq) would choke on.
 */
#include "utf8.h"
#include "swar.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Decodes one character; returns its length, or 0 if malformed. */
static size_t decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		v = c & 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		v = c & 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

int se_utf8_valid(const char *p, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;

		/* ASCII runs are the common case: skip them 8 bytes at a time. */
		while (i + 8 <= len) {
			uint64_t w;

			__builtin_memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		/* Two-byte sequences (Cyrillic, the common non-ASCII text here)
		 * are checked inline: lead C2..DF, then one continuation byte. */
		if (s[i] >= 0xC2 && s[i] <= 0xDF && i + 1 < len && (s[i + 1] & 0xC0) == 0x80) {
			i += 2;
			continue;
		}
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		n = decode(s + i, len - i, &cp);
		if (n == 0) {
			if (bad)
				*bad = i;
			return 0;
		}
		i += n;
	}
	return 1;
}

#define HIGH_BITS SE_SWAR_HIGH

/*
 * Eight bytes of ASCII and two-byte sequences at a time (Cyrillic text).
 * Per byte, bit 7 marks a non-ASCII byte; with bit 6 it is a lead, without
 * it a continuation.  Valid two-byte text has a continuation right after
 * each lead and nowhere else: the continuations are the leads moved one
 * byte on, plus the one a lead in the word before's last byte is owed
 * (*carry).  A lead C0 or C1 (overlong) or of a longer sequence, or any
 * other mismatch, returns 0: the caller then walks the bytes one by one.
 */
static int two_byte_word(uint64_t w, uint64_t *carry)
{
	uint64_t high = w & HIGH_BITS;
	uint64_t bit6 = (w << 1) & HIGH_BITS;
	uint64_t bit5 = (w << 2) & HIGH_BITS;
	uint64_t lead = high & bit6 & ~bit5;
	uint64_t cont = high & ~bit6;

	if (high & bit6 & bit5)
		return 0; /* E0..FF: a longer sequence, or no lead at all */
	if (lead & se_swar_zero(w & 0x1e1e1e1e1e1e1e1eull))
		return 0; /* C0, C1 */
	if (cont != ((lead << 8) | *carry))
		return 0;
	*carry = (lead >> 56) & 0x80;
	return 1;
}

int se_utf8_valid_count_nul(const char *p, size_t len, size_t *bad, size_t *nuls)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, zeros = 0;

	while (i < len) {
		uint64_t carry = 0;
		size_t slow_until;

		while (i + 8 <= len) {
			uint64_t w = se_swar_load(s + i);

			if (((w & HIGH_BITS) | carry) != 0 && !two_byte_word(w, &carry))
				break;
			zeros += se_swar_count(se_swar_zero(w));
			i += 8;
		}
		/* A lead owed its continuation by a word that did not come (or
		 * failed): the bytes are walked again from that lead. */
		if (carry)
			i--;
		/* One by one past the word that failed, then words again. */
		slow_until = i + 8 < len ? i + 8 : len;
		while (i < slow_until) {
			uint32_t cp;
			size_t n;

			if (s[i] < 0x80) {
				zeros += s[i] == 0;
				i++;
				continue;
			}
			n = decode(s + i, len - i, &cp);
			if (n == 0) {
				if (bad)
					*bad = i;
				return 0;
			}
			i += n;
		}
	}
	*nuls = zeros;
	return 1;
}

static int is_combining(uint32_t cp)
{
	return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x0483 && cp <= 0x0489) ||
	       (cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) ||
	       (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE20 && cp <= 0xFE2F) ||
	       cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0xFE0F;
}

static int is_wide(uint32_t cp)
{
	return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
	       (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
	       (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
	       (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
	       (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

size_t se_utf8_width(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, width = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = decode(s + i, len - i, &cp);

		if (n == 0) { /* not expected for stored text; count a byte as a column */
			width++;
			i++;
			continue;
		}
		i += n;
		if (is_combining(cp))
			continue;
		width += is_wide(cp) ? 2 : 1;
	}
	return width;
}

size_t se_utf8_prefix(const char *p, size_t len, size_t max_bytes)
{
	size_t n;

	if (len <= max_bytes)
		return len;
	n = max_bytes;
	while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
		n--;
	return n;
}

const char *se_utf8_visible(const char *t, char **scratch, size_t *cap)
{
	const unsigned char *p;
	size_t need = 1;
	int any = 0;
	char *o;

	for (p = (const unsigned char *)t; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			need += 4;
			any = 1;
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			need += 6;
			any = 1;
			p++;
		} else {
			need++;
		}
	}
	if (!any)
		return t;
	if (need > *cap) {
		char *n = realloc(*scratch, need);

		if (n == NULL)
			return "?";
		*scratch = n;
		*cap = need;
	}
	o = *scratch;
	for (p = (const unsigned char *)t; *p; p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			*o++ = '\\';
			*o++ = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
		} else if (*p < 0x20 || *p == 0x7f) {
			o += sprintf(o, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			o += sprintf(o, "\\u00%02x", p[1]);
			p++;
		} else {
			*o++ = (char)*p;
		}
	}
	*o = '\0';
	return *scratch;
}

/* ---- matching names people type ------------------------------------------------ */

uint32_t se_utf8_next(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;
	uint32_t c = *p;
	int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;

	if (c < 0x80 || end - p <= extra) {
		*pp = p + 1;
		return c < 0x80 ? c : 0x110000 + c;
	}
	c &= 0x3Fu >> extra;
	for (int i = 1; i <= extra; i++) {
		if ((p[i] & 0xC0) != 0x80) {
			*pp = p + 1;
			return 0x110000 + *p;
		}
		c = (c << 6) | (p[i] & 0x3F);
	}
	*pp = p + extra + 1;
	return c;
}

uint32_t se_utf8_fold(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c >= 0x0410 && c <= 0x042F) /* А..Я */
		return c + 32;
	if (c == 0x0401 || c == 0x0451) /* Ё, ё -> е */
		return 0x0435;
	if (c >= 0x0400 && c <= 0x040F) /* Ѐ..Џ -> ѐ..џ */
		return c + 0x50;
	if (c == '\t' || c == '\r' || c == '\n' || c == 0xA0 || c == 0x202F)
		return ' ';
	return c;
}

size_t se_edit_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
	size_t row[SE_EDIT_MAX + 1];

	if (na > SE_EDIT_MAX || nb > SE_EDIT_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t prev = row[0]; /* the diagonal: row i-1, column j-1 */

		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t cur = row[j], best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[nb];
}
