/*
 * test_jsonstream.c: JSON read as a stream of records (core/jsonstream.c).
 *
 * Records must come out while the text is still arriving (that is what
 * keeps a 1 GB dump in bounded memory and imports API pages as they
 * come), the same whatever the pieces' sizes, and errors must name the
 * line and column.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "jsonstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct seen {
	char text[4096];
	long n;
} seen;

/* Each record as compact JSON, one per line; a given-up one as its reason. */
static int collect(void *ud, json_t *rec, const char *why, se_error *err)
{
	seen *s = ud;
	size_t used = strlen(s->text);
	char *t = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

	(void)err;
	snprintf(s->text + used, sizeof s->text - used, "%s\n", rec ? t : why);
	free(t);
	s->n++;
	return SE_OK;
}

/* Feeds text in pieces of `piece` bytes; returns the outcome. */
static int run(const char *path, const char *text, size_t piece, seen *out, se_error *err)
{
	se_json_stream *s = NULL;
	size_t len = strlen(text);
	int rc;

	memset(out, 0, sizeof *out);
	se_error_clear(err);
	assert_int_equal(se_json_stream_open(&s, path, 1, collect, out, err), SE_OK);
	for (size_t i = 0; i < len; i += piece) {
		if ((rc = se_json_stream_feed(s, text + i, len - i < piece ? len - i : piece, err)) != SE_OK) {
			se_json_stream_free(s);
			return rc;
		}
	}
	rc = se_json_stream_end(s, err);
	se_json_stream_free(s);
	return rc;
}

static void records_come_before_the_end(void **state)
{
	se_json_stream *s = NULL;
	se_error err = { 0 };
	seen got = { .n = 0 };
	const char *part1 = "{\"count\": 3, \"customers\": [{\"id\": 1}, {\"id\": 2, \"a\": [1, {\"b\": null}]}";
	const char *part2 = ", {\"id\": 3}], \"notReturnedCount\": 0}";

	(void)state;
	assert_int_equal(se_json_stream_open(&s, "customers|orders", 1, collect, &got, &err), SE_OK);
	assert_int_equal(se_json_stream_feed(s, part1, strlen(part1), &err), SE_OK);
	assert_int_equal(got.n, 2);
	assert_int_equal(se_json_stream_count(s), 2);
	assert_int_equal(se_json_stream_feed(s, part2, strlen(part2), &err), SE_OK);
	assert_int_equal(se_json_stream_end(s, &err), SE_OK);
	se_json_stream_free(s);
	assert_string_equal(got.text, "{\"id\":1}\n{\"a\":[1,{\"b\":null}],\"id\":2}\n{\"id\":3}\n");
}

/* Every piece size gives the same records. */
static void any_piece_size(void **state)
{
	const char *doc = "{\"_embedded\": {\"events\": [{\"id\": \"01a\", \"v\": [1.5, true, false, \"Этап\"]},"
	                  " {\"id\": 18446744073709551615, \"n\": -3}, 5, [2]]}, \"_page\": 1}";
	se_error err = { 0 };
	seen whole, pieces;

	(void)state;
	assert_int_equal(run("_embedded.events", doc, strlen(doc), &whole, &err), SE_OK);
	assert_string_equal(whole.text, "{\"id\":\"01a\",\"v\":[1.5,true,false,\"Этап\"]}\n"
	                                "{\"id\":\"18446744073709551615\",\"n\":-3}\n5\n[2]\n");
	for (size_t piece = 1; piece < 16; piece++) {
		assert_int_equal(run("_embedded.events", doc, piece, &pieces, &err), SE_OK);
		assert_string_equal(pieces.text, whole.text);
	}
}

static void shapes_without_a_path(void **state)
{
	se_error err = { 0 };
	seen got;

	(void)state;
	assert_int_equal(run(NULL, "[{\"a\": 1}, {\"a\": 2}]", 3, &got, &err), SE_OK);
	assert_string_equal(got.text, "{\"a\":1}\n{\"a\":2}\n");
	assert_int_equal(run(NULL, "{\"a\": {\"b\": [1]}}", 3, &got, &err), SE_OK);
	assert_string_equal(got.text, "{\"a\":{\"b\":[1]}}\n");
	assert_int_equal(run(NULL, "{\"a\": 1, \"a\": 2}", 100, &got, &err), SE_OK);
	assert_string_equal(got.text, "duplicate object key 'a'\n");
}

static void errors_name_line_and_column(void **state)
{
	se_error err = { 0 };
	seen got;

	(void)state;
	assert_int_equal(run("items", "{\"items\": [\n  {\"id\": 1},\n  {\"id\": 2,}\n]}", 5, &got, &err), SE_EINPUT);
	assert_string_equal(err.msg, "line 3, column 12: invalid object key (must be a string) near '}'");
	assert_int_equal(got.n, 1);
	assert_int_equal(run("items", "{\"items\": [{\"id\": 1}", 4, &got, &err), SE_EINPUT);
	assert_string_equal(err.msg, "line 1, column 20: unexpected end of the text");
	assert_int_equal(run("items", "{\"other\": []}", 4, &got, &err), SE_EINPUT);
	assert_string_equal(err.msg, "no \"items\" in the document (the adapter reads its records there)");
	assert_int_equal(run("items", "{\"items\": 5}", 4, &got, &err), SE_EINPUT);
	assert_string_equal(err.msg, "\"items\" is a single value, not a list of records");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(records_come_before_the_end),
		cmocka_unit_test(any_piece_size),
		cmocka_unit_test(shapes_without_a_path),
		cmocka_unit_test(errors_name_line_and_column),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
