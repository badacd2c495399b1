/*
 * test_json.c: reading JSON for adapters (core/json.h): any value at the
 * top, duplicate keys and bad UTF-8 refused, errors placed on the line of
 * the file (a JSON Lines record starts on its own line), and the records
 * of a document found at a path, with alternatives.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "json.h"

#include <string.h>

static json_t *parse(const char *text)
{
	json_t *doc = NULL;
	se_error err = { 0 };

	if (se_json_parse(text, strlen(text), 1, &doc, &err) != SE_OK)
		fail_msg("parse %s: %s", text, err.msg);
	return doc;
}

static void expect_parse_error(const char *text, size_t len, long first_line, const char *want)
{
	json_t *doc = (json_t *)1;
	se_error err = { 0 };

	assert_int_equal(se_json_parse(text, len, first_line, &doc, &err), SE_EINPUT);
	assert_null(doc);
	assert_string_equal(err.msg, want);
}

static void test_any_value_at_the_top(void **state)
{
	json_t *v;

	(void)state;
	v = parse("42");
	assert_true(json_is_integer(v) && json_integer_value(v) == 42);
	json_decref(v);
	v = parse("\"Счёт\"");
	assert_string_equal(json_string_value(v), "Счёт");
	json_decref(v);
	v = parse("[{\"id\": 1}, {\"id\": 2}]");
	assert_int_equal(json_array_size(v), 2);
	json_decref(v);
	v = parse("null");
	assert_true(json_is_null(v));
	json_decref(v);
}

/* Only len bytes count: what follows in memory is not read. */
static void test_length_bounds_the_text(void **state)
{
	json_t *doc = NULL;
	se_error err = { 0 };
	static const char text[] = "[1,2]garbage";

	(void)state;
	assert_int_equal(se_json_parse(text, 5, 1, &doc, &err), SE_OK);
	assert_int_equal(json_array_size(doc), 2);
	json_decref(doc);
}

/* A NUL escaped inside a string is kept, with the string's length. */
static void test_escaped_nul_in_string(void **state)
{
	json_t *v = parse("{\"name\": \"a\\u0000b\"}");
	json_t *s = json_object_get(v, "name");

	(void)state;
	assert_int_equal(json_string_length(s), 3);
	assert_memory_equal(json_string_value(s), "a\0b", 3);
	json_decref(v);
}

static void test_errors_name_line_and_column(void **state)
{
	(void)state;
	/* A duplicate key would make one of two values silently win. */
	expect_parse_error("{\"a\":1,\"a\":2}", 13, 1, "duplicate object key 'a'");
	/* A record of a JSON Lines file that starts on line 40 of it. */
	expect_parse_error("{\n \"a\": [1, 2,\n ]}", 17, 40, "line 42, column 2: unexpected token near ']'");
	expect_parse_error("\"\xff\"", 3, 1, "line 1, column 2: invalid bytes in UTF8 string");
	expect_parse_error("[1] 2", 5, 7, "line 7, column 5: trailing garbage");
	expect_parse_error("", 0, 1, "line 1, column 1: unexpected end of the text");
}

static json_t *records(json_t *doc, const char *path, int want_rc, se_error *err)
{
	json_t *list = (json_t *)1;

	assert_int_equal(se_json_records(doc, path, &list, err), want_rc);
	if (want_rc != SE_OK)
		assert_null(list);
	return want_rc == SE_OK ? list : NULL;
}

static void test_records_without_a_path(void **state)
{
	json_t *arr = parse("[{\"id\": 1}, {\"id\": 2}]");
	json_t *obj = parse("{\"id\": 7}");
	json_t *list;
	se_error err = { 0 };

	(void)state;
	/* An array is the list itself (a new reference to it). */
	list = records(arr, NULL, SE_OK, &err);
	assert_ptr_equal(list, arr);
	json_decref(list);
	assert_int_equal(json_array_size(arr), 2); /* still alive: the reference was new */
	/* Anything else is one record. */
	list = records(obj, NULL, SE_OK, &err);
	assert_int_equal(json_array_size(list), 1);
	assert_ptr_equal(json_array_get(list, 0), obj);
	json_decref(list);
	json_decref(arr);
	json_decref(obj);
}

static void test_records_at_a_path(void **state)
{
	json_t *doc = parse("{\"count\": 2, \"result\": {\"items\": [1, 2, 3], \"page\": {\"n\": 1}},"
	                    " \"orders\": [4], \"_embedded\": {\"events\": []}}");
	json_t *list;
	se_error err = { 0 };

	(void)state;
	list = records(doc, "result.items", SE_OK, &err);
	assert_int_equal(json_array_size(list), 3);
	json_decref(list);
	list = records(doc, "_embedded.events", SE_OK, &err);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	/* Alternatives: the first present one wins, whatever its place. */
	list = records(doc, "customers|orders", SE_OK, &err);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	list = records(doc, "orders|result.items", SE_OK, &err);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	list = records(doc, "missing|result.items|orders", SE_OK, &err);
	assert_int_equal(json_array_size(list), 3);
	json_decref(list);

	records(doc, "customers|clients", SE_EINPUT, &err);
	assert_string_equal(err.msg, "no \"customers|clients\" in the document (the adapter reads its records there)");
	/* A path through something that is not an object leads nowhere. */
	records(doc, "result.items.x", SE_EINPUT, &err);
	assert_string_equal(err.msg, "no \"result.items.x\" in the document (the adapter reads its records there)");
	/* A prefix of a key is not the key. */
	records(doc, "result.item", SE_EINPUT, &err);
	assert_string_equal(err.msg, "no \"result.item\" in the document (the adapter reads its records there)");
	records(doc, "result.page", SE_EINPUT, &err);
	assert_string_equal(err.msg, "\"result.page\" is an object, not a list of records");
	records(doc, "count", SE_EINPUT, &err);
	assert_string_equal(err.msg, "\"count\" is a single value, not a list of records");
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_any_value_at_the_top),
		cmocka_unit_test(test_length_bounds_the_text),
		cmocka_unit_test(test_escaped_nul_in_string),
		cmocka_unit_test(test_errors_name_line_and_column),
		cmocka_unit_test(test_records_without_a_path),
		cmocka_unit_test(test_records_at_a_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
