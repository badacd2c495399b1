/*
 * test_encoding.c: input files as UTF-8 in memory (core/encoding.h): read
 * whole whatever their size, a byte order mark dropped, legacy encodings
 * converted (even when the text grows more than twice), and text that is
 * not UTF-8 refused with its line and the --encoding hint.  Expected bytes
 * are written out by hand from the code tables, not produced by iconv.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "encoding.h"
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
	char dir[64];
	char path[128];
	se_error err;
	char *text;
	size_t len;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL || scratch_dir(f->dir, sizeof f->dir, "test_encoding") != 0) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof f->path, "%s/in.csv", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	free(f->text);
	remove_tree(f->dir);
	free(f);
	return 0;
}

static int read_file(fixture *f, const char *encoding)
{
	free(f->text);
	f->text = NULL;
	f->len = 0;
	return se_read_utf8_file(f->path, encoding, &f->text, &f->len, &f->err);
}

static void test_utf8_with_bom(void **state)
{
	fixture *f = *state;

	write_file(f->path, "\xEF\xBB\xBF" "deal,stage\n1,Новый\n");
	assert_int_equal(read_file(f, NULL), SE_OK);
	assert_int_equal(f->len, strlen("deal,stage\n1,Новый\n"));
	assert_string_equal(f->text, "deal,stage\n1,Новый\n");
	/* "utf-8" and "UTF8" are the same as no encoding at all. */
	assert_int_equal(read_file(f, "UTF8"), SE_OK);
	assert_string_equal(f->text, "deal,stage\n1,Новый\n");
	assert_int_equal(read_file(f, "Utf-8"), SE_OK);
	assert_string_equal(f->text, "deal,stage\n1,Новый\n");
}

/* Only a BOM at the very start is one. */
static void test_bom_not_at_start_is_text(void **state)
{
	fixture *f = *state;

	write_file(f->path, "a\xEF\xBB\xBF");
	assert_int_equal(read_file(f, NULL), SE_OK);
	assert_int_equal(f->len, 4);
}

static void test_empty_file(void **state)
{
	fixture *f = *state;

	write_file(f->path, "");
	assert_int_equal(read_file(f, NULL), SE_OK);
	assert_non_null(f->text);
	assert_int_equal(f->len, 0);
	assert_string_equal(f->text, "");
}

/* Larger than the first read buffer several times over, in a pattern that
 * shows any chunk lost, doubled or misplaced. */
static void test_large_file_read_whole(void **state)
{
	fixture *f = *state;
	size_t n = (3u << 20) + 12345;
	char *data = malloc(n);

	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + (i * 7 + i / 65536) % 26);
	write_bytes(f->path, data, n);
	assert_int_equal(read_file(f, NULL), SE_OK);
	assert_int_equal(f->len, n);
	assert_memory_equal(f->text, data, n);
	assert_int_equal(f->text[n], '\0');
	free(data);
}

static void test_cp1251(void **state)
{
	fixture *f = *state;
	/* "Счёт выставлен;Иван" in cp1251: С=D1 ч=F7 ё=B8 т=F2, в=E2 ы=FB с=F1
	 * т=F2 а=E0 в=E2 л=EB е=E5 н=ED, И=C8 в=E2 а=E0 н=ED. */
	static const char in[] = "\xD1\xF7\xB8\xF2 \xE2\xFB\xF1\xF2\xE0\xE2\xEB\xE5\xED;\xC8\xE2\xE0\xED\r\n";

	write_bytes(f->path, in, sizeof in - 1);
	assert_int_equal(read_file(f, "cp1251"), SE_OK);
	assert_string_equal(f->text, "Счёт выставлен;Иван\r\n");
	assert_int_equal(f->len, strlen("Счёт выставлен;Иван\r\n"));
}

/* cp1251's euro sign (0x88) is three bytes of UTF-8 (E2 82 AC): the
 * output outgrows the first guess of twice the input and must grow. */
static void test_conversion_that_triples(void **state)
{
	fixture *f = *state;
	size_t n = 100000;
	char *in = malloc(n);

	assert_non_null(in);
	memset(in, 0x88, n);
	write_bytes(f->path, in, n);
	assert_int_equal(read_file(f, "windows-1251"), SE_OK);
	assert_int_equal(f->len, 3 * n);
	for (size_t i = 0; i < n; i++)
		if (memcmp(f->text + 3 * i, "\xE2\x82\xAC", 3) != 0)
			fail_msg("euro %zu is wrong", i);
	assert_int_equal(f->text[3 * n], '\0');
	free(in);
}

static void test_to_utf8_koi8r(void **state)
{
	char *out = NULL;
	size_t len = 0;
	se_error err = { 0 };

	(void)state;
	/* KOI8-R: п=D0 р=D2 и=C9 в=D7 е=C5 т=D4. */
	assert_int_equal(se_to_utf8("\xD0\xD2\xC9\xD7\xC5\xD4", 6, "koi8-r", &out, &len, &err), SE_OK);
	assert_string_equal(out, "привет");
	assert_int_equal(len, 12);
	free(out);
}

static void test_not_utf8_names_line_and_hint(void **state)
{
	fixture *f = *state;
	char want[512];

	/* Line 3, the 20th byte of the file, is a cp1251 'П' read as UTF-8. */
	write_file(f->path, "deal,stage\n1,New\n2,\xCF\xF0\xEE\xE4\xE0\xE6\xE0\n");
	assert_int_equal(read_file(f, NULL), SE_EINPUT);
	assert_null(f->text);
	snprintf(want, sizeof want, "%s:3: not valid UTF-8 (byte 20 of the file); if it is a Windows "
	         "export, try --encoding cp1251", f->path);
	assert_string_equal(f->err.msg, want);
}

/* The line is counted after the BOM is gone and in the converted text. */
static void test_bad_utf8_after_bom_line_one(void **state)
{
	fixture *f = *state;
	char want[512];

	write_file(f->path, "\xEF\xBB\xBF" "ab\xFF\n");
	assert_int_equal(read_file(f, NULL), SE_EINPUT);
	snprintf(want, sizeof want, "%s:1: not valid UTF-8 (byte 3 of the file); if it is a Windows "
	         "export, try --encoding cp1251", f->path);
	assert_string_equal(f->err.msg, want);
}

static void test_unknown_encoding(void **state)
{
	fixture *f = *state;
	char want[256];

	write_file(f->path, "x\n");
	assert_int_equal(read_file(f, "no-such-charset"), SE_EUSAGE);
	snprintf(want, sizeof want, "%s: unknown encoding 'no-such-charset' (try cp1251)", f->path);
	assert_string_equal(f->err.msg, want);
}

static void test_byte_invalid_in_the_encoding(void **state)
{
	fixture *f = *state;
	char want[256];

	write_file(f->path, "ok\xC0x");
	assert_int_equal(read_file(f, "ascii"), SE_EINPUT);
	snprintf(want, sizeof want, "%s: byte 3 is not valid ascii", f->path);
	assert_string_equal(f->err.msg, want);
	assert_null(f->text);
}

static void test_missing_file(void **state)
{
	fixture *f = *state;
	char want[256];

	snprintf(f->path, sizeof f->path, "%s/absent.csv", f->dir);
	assert_int_equal(read_file(f, NULL), SE_EIO);
	snprintf(want, sizeof want, "cannot open %s: No such file or directory", f->path);
	assert_string_equal(f->err.msg, want);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_utf8_with_bom),
		T(test_bom_not_at_start_is_text),
		T(test_empty_file),
		T(test_large_file_read_whole),
		T(test_cp1251),
		T(test_conversion_that_triples),
		cmocka_unit_test(test_to_utf8_koi8r),
		T(test_not_utf8_names_line_and_hint),
		T(test_bad_utf8_after_bom_line_one),
		T(test_unknown_encoding),
		T(test_byte_invalid_in_the_encoding),
		T(test_missing_file),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
