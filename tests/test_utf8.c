/*
 * test_utf8.c: validation, display width and character-safe prefixes.
 *
 * The byte sequences come from RFC 3629 and Unicode table 3-7 (well-formed
 * UTF-8): each malformed case names the rule it breaks.  Inputs that must
 * not be read past their end live in exact-size heap blocks, so the
 * sanitizers (or valgrind) catch any over-read of the 8-byte fast path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "utf8.h"
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

/* A sentinel that must be overwritten when a function reports a bad byte. */
#define UNSET ((size_t)-1)

static size_t count_nul(const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += p[i] == '\0';
	return n;
}

static void expect_valid_bytes(const char *p, size_t len)
{
	size_t bad = UNSET, nuls = UNSET;

	assert_int_equal(se_utf8_valid(p, len, &bad), 1);
	assert_int_equal(bad, UNSET); /* untouched when valid */
	/* The one-pass check with its NUL count says the same. */
	assert_int_equal(se_utf8_valid_count_nul(p, len, &bad, &nuls), 1);
	assert_int_equal(bad, UNSET);
	assert_int_equal(nuls, count_nul(p, len));
}

static void expect_invalid_bytes(const char *p, size_t len, size_t at)
{
	size_t bad = UNSET, nuls;

	assert_int_equal(se_utf8_valid(p, len, &bad), 0);
	assert_int_equal(bad, at);
	/* The offset is optional. */
	assert_int_equal(se_utf8_valid(p, len, NULL), 0);
	bad = UNSET;
	assert_int_equal(se_utf8_valid_count_nul(p, len, &bad, &nuls), 0);
	assert_int_equal(bad, at);
}

#define EXPECT_VALID(lit) expect_valid_bytes((lit), sizeof(lit) - 1)
#define EXPECT_INVALID(lit, at) expect_invalid_bytes((lit), sizeof(lit) - 1, (at))

/* A heap copy of exactly len bytes. */
static char *exact_copy(const char *p, size_t len)
{
	char *q = malloc(len ? len : 1);

	assert_non_null(q);
	memcpy(q, p, len);
	return q;
}

/* ---- se_utf8_valid ---------------------------------------------------------- */

static void test_valid_ascii(void **state)
{
	(void)state;
	EXPECT_VALID("");
	EXPECT_VALID("a");
	EXPECT_VALID("event_id,deal_id,ts,stage");
	EXPECT_VALID("\x01\x1f\x7f ~");
	/* NUL is a character like any other: lengths are explicit. */
	expect_valid_bytes("a\0b", 3);
	assert_int_equal(se_utf8_valid(NULL, 0, NULL), 1);
}

static void test_valid_multibyte(void **state)
{
	(void)state;
	EXPECT_VALID("Привет, мир");           /* 2-byte Cyrillic */
	EXPECT_VALID("Ёлка и ёжик");
	EXPECT_VALID("€ 9 990,50");            /* 3-byte */
	EXPECT_VALID("日本語");
	EXPECT_VALID("\xF0\x9F\x98\x80");       /* U+1F600, 4 bytes */
	EXPECT_VALID("deal 🤝 won 🎉");
	/* The edges of each length class and around the surrogates. */
	EXPECT_VALID("\xC2\x80");              /* U+0080 */
	EXPECT_VALID("\xDF\xBF");              /* U+07FF */
	EXPECT_VALID("\xE0\xA0\x80");          /* U+0800 */
	EXPECT_VALID("\xED\x9F\xBF");          /* U+D7FF */
	EXPECT_VALID("\xEE\x80\x80");          /* U+E000 */
	EXPECT_VALID("\xEF\xBF\xBF");          /* U+FFFF */
	EXPECT_VALID("\xF0\x90\x80\x80");      /* U+10000 */
	EXPECT_VALID("\xF4\x8F\xBF\xBF");      /* U+10FFFF, the last code point */
	EXPECT_VALID("\xEF\xBB\xBF" "bom");    /* a BOM is a valid character */
}

static void test_overlong_forms(void **state)
{
	(void)state;
	EXPECT_INVALID("\xC0\x80", 0);          /* NUL in two bytes */
	EXPECT_INVALID("\xC1\xBF", 0);          /* U+007F in two bytes */
	EXPECT_INVALID("\xE0\x80\x80", 0);      /* NUL in three */
	EXPECT_INVALID("\xE0\x9F\xBF", 0);      /* U+07FF in three */
	EXPECT_INVALID("\xF0\x80\x80\x80", 0);  /* NUL in four */
	EXPECT_INVALID("\xF0\x8F\xBF\xBF", 0);  /* U+FFFF in four */
	EXPECT_INVALID("ab\xC0\xAF", 2);        /* the classic overlong '/' */
	EXPECT_INVALID("Иван\xE0\x80\x80", 8);
}

static void test_surrogates(void **state)
{
	(void)state;
	EXPECT_INVALID("\xED\xA0\x80", 0);      /* U+D800 */
	EXPECT_INVALID("\xED\xBF\xBF", 0);      /* U+DFFF */
	EXPECT_INVALID("x\xED\xB2\x80", 1);     /* a lone low surrogate */
	/* A CESU-8 pair for U+1F600 is two surrogates, not a character. */
	EXPECT_INVALID("\xED\xA0\xBD\xED\xB8\x80", 0);
}

static void test_beyond_unicode(void **state)
{
	(void)state;
	EXPECT_INVALID("\xF4\x90\x80\x80", 0);  /* U+110000 */
	EXPECT_INVALID("\xF7\xBF\xBF\xBF", 0);  /* U+1FFFFF */
	EXPECT_INVALID("\xF5\x80\x80\x80", 0);  /* F5..FF never start a character */
	EXPECT_INVALID("\xF8\x88\x80\x80\x80", 0); /* old 5-byte form */
	EXPECT_INVALID("\xFC\x84\x80\x80\x80\x80", 0);
	EXPECT_INVALID("ok\xFE", 2);
	EXPECT_INVALID("ok\xFF", 2);
}

static void test_truncated_sequences(void **state)
{
	(void)state;
	EXPECT_INVALID("\xD0", 0);               /* 2-byte lead at the end */
	EXPECT_INVALID("ab\xD0", 2);
	EXPECT_INVALID("\xE2\x82", 0);            /* "€" missing its last byte */
	EXPECT_INVALID("\xF0\x9F\x98", 0);        /* emoji missing its last byte */
	EXPECT_INVALID("\xF0\x9F", 0);
	EXPECT_INVALID("\xF0", 0);
	/* Truncated by a following ASCII byte rather than the end. */
	EXPECT_INVALID("\xD0" "A", 0);
	EXPECT_INVALID("\xE2\x82" "A", 0);
	EXPECT_INVALID("Пр\xD0 ok", 4);
	/* The length decides, not a NUL: a sequence cut by len is truncated. */
	expect_invalid_bytes("\xD0\x9F", 1, 0);
	expect_valid_bytes("\xD0\x9F", 2);
}

static void test_stray_continuation_bytes(void **state)
{
	(void)state;
	EXPECT_INVALID("\x80", 0);
	EXPECT_INVALID("\xBF", 0);
	EXPECT_INVALID("abc\x80", 3);
	EXPECT_INVALID("Д\x80", 2);               /* one continuation too many */
	EXPECT_INVALID("€\x80\x80", 3);
	EXPECT_INVALID("\xF0\x9F\x98\x80\x80", 4);
}

static void test_reports_first_bad_byte(void **state)
{
	(void)state;
	/* Two problems: the first one is reported. */
	EXPECT_INVALID("Привет\xFF и \xC0\x80", 12);
	EXPECT_INVALID("a\x80" "b\xFF", 1);
	/* Latin-1 text read as UTF-8: "Café" with é as one byte 0xE9. */
	EXPECT_INVALID("Caf\xE9", 3);
	/* Windows-1251 Cyrillic (the usual wrong export encoding). */
	EXPECT_INVALID("\xcf\xf0\xe8\xe2\xe5\xf2", 0);
}

/* The validator skips ASCII 8 bytes at a time; a bad byte must be found at
 * every offset whatever the alignment and run length, and the skip must
 * never look past len. */
static void test_fast_path_every_offset(void **state)
{
	(void)state;
	for (size_t len = 1; len <= 40; len++) {
		for (size_t pos = 0; pos < len; pos++) {
			static const unsigned char bad_bytes[] = { 0x80, 0xC0, 0xFF, 0xD0 };

			for (size_t b = 0; b < sizeof bad_bytes; b++) {
				char *p = malloc(len);

				assert_non_null(p);
				memset(p, 'a', len);
				p[pos] = (char)bad_bytes[b];
				expect_invalid_bytes(p, len, pos);
				free(p);
			}
		}
	}
}

static void test_fast_path_valid_runs(void **state)
{
	(void)state;
	for (size_t len = 0; len <= 40; len++) {
		char *p = malloc(len ? len : 1);

		assert_non_null(p);
		memset(p, 'z', len);
		expect_valid_bytes(p, len);
		free(p);
	}
	/* A multibyte character at every offset of an ASCII run: the fast path
	 * must resume correctly after it. */
	for (size_t len = 2; len <= 40; len++) {
		for (size_t pos = 0; pos + 2 <= len; pos++) {
			char *p = malloc(len);

			assert_non_null(p);
			memset(p, 'a', len);
			memcpy(p + pos, "Ж", 2);
			expect_valid_bytes(p, len);
			/* ... and a bad byte anywhere after it is still found. */
			for (size_t after = pos + 2; after < len; after++) {
				p[after] = (char)0x80;
				expect_invalid_bytes(p, len, after);
				p[after] = 'a';
			}
			free(p);
		}
	}
}

static void test_does_not_read_past_len(void **state)
{
	(void)state;
	/* The byte after the range is bad; the range itself is fine. */
	for (size_t len = 0; len <= 24; len++) {
		char *p = malloc(len + 1);

		assert_non_null(p);
		memset(p, 'q', len);
		p[len] = (char)0xFF;
		expect_valid_bytes(p, len);
		free(p);
	}
	/* A sequence cut by len in an exact-size block. */
	{
		char *p = exact_copy("abcdefgh\xF0\x9F\x98", 11);

		expect_invalid_bytes(p, 11, 8);
		free(p);
	}
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static unsigned rng(unsigned n)
{
	return test_rng_below(&rng_state, n);
}

/* Random text built from good and hostile pieces (NULs, overlongs,
 * surrogates, code points past U+10FFFF, stray continuation bytes, a
 * sequence cut short, often at the very end of the block): the one-pass
 * check agrees with se_utf8_valid on validity and the first bad byte, and
 * with a plain count on the NULs. */
static void test_count_nul_matches_valid(void **state)
{
	static const char *const pieces[] = {
		"a", "Zq", "0123456789", "\0", "\0\0\0\0\0\0\0\0", "\xD0\x96", "\xE2\x82\xAC",
		"\xF0\x9F\x98\x80", "\xC0\x80", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
		"\x80", "\xBF", "\xD0", "\xE2\x82", "\xF0\x9F\x98", "\xFF", "\xC2\xA0", "Новый лид",
		"\x01", "\0\x01\x01\x01\x01\x01\x01\x01", /* a borrow past a zero byte is no zero */
	};
	static const size_t piece_len[] = { 1, 2, 10, 1, 8, 2, 3, 4, 2, 3, 3, 4, 1, 1, 1, 2, 3, 1, 2, 17, 1, 8 };
	char buf[256];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = 0, want_bad = UNSET, got_bad = UNSET, nuls = UNSET;
		int good_only = rng(3) == 0;
		char *p;
		int want;

		while (len < 200 && rng(12) != 0) {
			size_t k = good_only ? (size_t)(rng(2) ? 0 : 2 + rng(8)) : rng(sizeof pieces / sizeof pieces[0]);

			if (good_only && k > 7)
				k = k == 8 ? 19 : 21;
			memcpy(buf + len, pieces[k], piece_len[k]);
			len += piece_len[k];
		}
		p = exact_copy(buf, len);
		want = se_utf8_valid(p, len, &want_bad);
		assert_int_equal(se_utf8_valid_count_nul(p, len, &got_bad, &nuls), want);
		assert_int_equal(got_bad, want_bad);
		if (want)
			assert_int_equal(nuls, count_nul(p, len));
		free(p);
	}
}

/* ---- se_utf8_width ------------------------------------------------------------ */

#define WIDTH(lit) se_utf8_width((lit), sizeof(lit) - 1)

static void test_width(void **state)
{
	(void)state;
	assert_int_equal(WIDTH(""), 0);
	assert_int_equal(WIDTH("Ivanov"), 6);
	/* Cyrillic: two bytes, one column. */
	assert_int_equal(WIDTH("Иванов"), 6);
	assert_int_equal(WIDTH("Пётр Ёлкин"), 10);
	/* CJK and Hangul: two columns each. */
	assert_int_equal(WIDTH("日本語"), 6);
	assert_int_equal(WIDTH("한국"), 4);
	assert_int_equal(WIDTH("ＡＢ"), 4);          /* fullwidth Latin */
	/* Combining marks take none. */
	assert_int_equal(WIDTH("e\xCC\x81"), 1);      /* e + U+0301 */
	assert_int_equal(WIDTH("и\xCC\x86"), 1);      /* и + breve = й, decomposed */
	assert_int_equal(WIDTH("a\xE2\x80\x8B" "b"), 2); /* zero-width space */
	/* Emoji are wide. */
	assert_int_equal(WIDTH("\xF0\x9F\x98\x80"), 2);
	/* Mixed. */
	assert_int_equal(WIDTH("Иванов 日本 ok"), 6 + 1 + 4 + 1 + 2);
	/* Width of the first len bytes only. */
	assert_int_equal(se_utf8_width("Иванов", 4), 2);
}

/* ---- se_utf8_prefix ----------------------------------------------------------- */

static void test_prefix_whole_string_fits(void **state)
{
	(void)state;
	assert_int_equal(se_utf8_prefix("", 0, 0), 0);
	assert_int_equal(se_utf8_prefix("", 0, 10), 0);
	assert_int_equal(se_utf8_prefix("abc", 3, 3), 3);
	assert_int_equal(se_utf8_prefix("Жук", 6, 100), 6);
}

static void test_prefix_ascii(void **state)
{
	(void)state;
	assert_int_equal(se_utf8_prefix("hello", 5, 0), 0);
	assert_int_equal(se_utf8_prefix("hello", 5, 3), 3);
	assert_int_equal(se_utf8_prefix("hello", 5, 4), 4);
}

static void test_prefix_cyrillic(void **state)
{
	static const char s[] = "Привет"; /* 12 bytes */

	(void)state;
	assert_int_equal(se_utf8_prefix(s, 12, 0), 0);
	assert_int_equal(se_utf8_prefix(s, 12, 1), 0);
	assert_int_equal(se_utf8_prefix(s, 12, 2), 2);
	assert_int_equal(se_utf8_prefix(s, 12, 3), 2);
	assert_int_equal(se_utf8_prefix(s, 12, 11), 10);
	assert_int_equal(se_utf8_prefix(s, 12, 12), 12);
}

static void test_prefix_four_byte(void **state)
{
	static const char s[] = "a\xF0\x9F\x98\x80" "b"; /* a, U+1F600, b */

	(void)state;
	assert_int_equal(se_utf8_prefix(s, 6, 1), 1);
	assert_int_equal(se_utf8_prefix(s, 6, 2), 1);
	assert_int_equal(se_utf8_prefix(s, 6, 3), 1);
	assert_int_equal(se_utf8_prefix(s, 6, 4), 1);
	assert_int_equal(se_utf8_prefix(s, 6, 5), 5);
}

/* Every cut of a mixed string: the prefix fits, ends on a boundary (so it
 * is valid UTF-8 on its own) and is the longest one that does. */
static void test_prefix_never_splits(void **state)
{
	static const char s[] = "aД€😀b日ё";
	const size_t len = sizeof s - 1;
	/* Character start offsets of s, and len itself. */
	static const size_t starts[] = { 0, 1, 3, 6, 10, 11, 14, 16 };

	(void)state;
	assert_int_equal(starts[sizeof starts / sizeof starts[0] - 1], len);
	for (size_t max = 0; max <= len + 2; max++) {
		size_t n = se_utf8_prefix(s, len, max);
		size_t want = 0;

		for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
			if (starts[i] <= max)
				want = starts[i];
		assert_int_equal(n, want);
		assert_true(n <= max);
		assert_int_equal(se_utf8_valid(s, n, NULL), 1);
	}
}

/* ---- names people type ------------------------------------------------------ */

static size_t folded_points(const char *s, uint32_t *out)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	size_t n = 0;

	while (p < end)
		out[n++] = se_utf8_fold(se_utf8_next(&p, end));
	return n;
}

static size_t name_distance(const char *a, const char *b)
{
	uint32_t ca[256], cb[256];
	size_t na = folded_points(a, ca), nb = folded_points(b, cb);

	return se_edit_distance(ca, na, cb, nb);
}

static void test_edit_distance_counts_characters_not_bytes(void **state)
{
	(void)state;
	assert_int_equal(name_distance("kitten", "sitting"), 3);
	assert_int_equal(name_distance("", "abc"), 3);
	assert_int_equal(name_distance("abc", "abc"), 0);
	/* One Cyrillic letter replaced: one edit, though both take two bytes;
	 * one dropped: one edit, not two. */
	assert_int_equal(name_distance("менеджер", "менаджер"), 1);
	assert_int_equal(name_distance("менеджер", "менджер"), 1);
	/* A byte sequence cut short is one character of its own. */
	assert_int_equal(name_distance("ab\xD0", "ab"), 1);
}

static void test_edit_distance_folds_case_and_yo(void **state)
{
	(void)state;
	assert_int_equal(name_distance("Ёлка", "елка"), 0);
	assert_int_equal(name_distance("МЕНЕДЖЕР", "менеджер"), 0);
	assert_int_equal(name_distance("Stage", "stage"), 0);
	assert_int_equal(name_distance("a\tb", "a b"), 0);
	assert_int_equal(se_utf8_fold(0x0400), 0x0450);
}

static void test_edit_distance_gives_up_on_long_names(void **state)
{
	uint32_t a[SE_EDIT_MAX + 1], b[SE_EDIT_MAX + 1];

	(void)state;
	for (size_t i = 0; i <= SE_EDIT_MAX; i++)
		a[i] = b[i] = 'x';
	assert_int_equal(se_edit_distance(a, SE_EDIT_MAX, b, SE_EDIT_MAX), 0);
	assert_true(se_edit_distance(a, SE_EDIT_MAX + 1, b, 1) == SIZE_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_ascii),
		cmocka_unit_test(test_valid_multibyte),
		cmocka_unit_test(test_overlong_forms),
		cmocka_unit_test(test_surrogates),
		cmocka_unit_test(test_beyond_unicode),
		cmocka_unit_test(test_truncated_sequences),
		cmocka_unit_test(test_stray_continuation_bytes),
		cmocka_unit_test(test_reports_first_bad_byte),
		cmocka_unit_test(test_fast_path_every_offset),
		cmocka_unit_test(test_fast_path_valid_runs),
		cmocka_unit_test(test_count_nul_matches_valid),
		cmocka_unit_test(test_does_not_read_past_len),
		cmocka_unit_test(test_width),
		cmocka_unit_test(test_prefix_whole_string_fits),
		cmocka_unit_test(test_prefix_ascii),
		cmocka_unit_test(test_prefix_cyrillic),
		cmocka_unit_test(test_prefix_four_byte),
		cmocka_unit_test(test_prefix_never_splits),
		cmocka_unit_test(test_edit_distance_counts_characters_not_bytes),
		cmocka_unit_test(test_edit_distance_folds_case_and_yo),
		cmocka_unit_test(test_edit_distance_gives_up_on_long_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
