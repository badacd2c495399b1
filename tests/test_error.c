/*
 * test_error.c: the caller-owned error object (core/error.h): codes come
 * back for `return se_error_set(...)`, messages are cut to fit and never
 * overflow, prefixes stack, and a NULL error object is allowed everywhere.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "error.h"

#include <string.h>

static void test_set_returns_code_and_formats(void **state)
{
	se_error err = { 0 };

	(void)state;
	assert_int_equal(se_error_set(&err, SE_EINPUT, "%s:%d: %s", "a.csv", 7, "bad date"), SE_EINPUT);
	assert_int_equal(err.code, SE_EINPUT);
	assert_string_equal(err.msg, "a.csv:7: bad date");
	/* A second set replaces the first whole. */
	assert_int_equal(se_error_set(&err, SE_EIO, "short"), SE_EIO);
	assert_int_equal(err.code, SE_EIO);
	assert_string_equal(err.msg, "short");
}

static void test_null_error_object(void **state)
{
	(void)state;
	assert_int_equal(se_error_set(NULL, SE_ENOMEM, "out of memory %d", 1), SE_ENOMEM);
	se_error_prefix(NULL, "file %s", "x");
	se_error_clear(NULL);
}

/* A message longer than the buffer is cut, NUL-terminated, the bytes after
 * the buffer untouched. */
static void test_long_message_is_truncated(void **state)
{
	struct {
		se_error err;
		char guard[16];
	} s;
	char big[3000];

	(void)state;
	memset(&s, 0x5A, sizeof s);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	se_error_set(&s.err, SE_EINPUT, "%s", big);
	assert_int_equal(strlen(s.err.msg), sizeof s.err.msg - 1);
	for (size_t i = 0; i < sizeof s.guard; i++)
		assert_int_equal((unsigned char)s.guard[i], 0x5A);
}

static void test_prefix_stacks(void **state)
{
	se_error err = { 0 };

	(void)state;
	se_error_set(&err, SE_EINPUT, "amount: not a number");
	se_error_prefix(&err, "line %d", 12);
	se_error_prefix(&err, "%s", "deals.csv");
	assert_string_equal(err.msg, "deals.csv: line 12: amount: not a number");
	assert_int_equal(err.code, SE_EINPUT); /* the code is the lower layer's */
}

/* Prefixing a full buffer keeps the prefix and cuts the old text's end. */
static void test_prefix_on_full_message(void **state)
{
	se_error err = { 0 };
	char big[2000];

	(void)state;
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	se_error_set(&err, SE_EIO, "%s", big);
	se_error_prefix(&err, "rules.lua");
	assert_int_equal(strlen(err.msg), sizeof err.msg - 1);
	assert_memory_equal(err.msg, "rules.lua: yyy", 14);
	assert_int_equal(err.msg[sizeof err.msg - 2], 'y');
}

static void test_clear(void **state)
{
	se_error err = { 0 };

	(void)state;
	se_error_set(&err, SE_EDB, "locked");
	se_error_clear(&err);
	assert_int_equal(err.code, SE_OK);
	assert_string_equal(err.msg, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_returns_code_and_formats),
		cmocka_unit_test(test_null_error_object),
		cmocka_unit_test(test_long_message_is_truncated),
		cmocka_unit_test(test_prefix_stacks),
		cmocka_unit_test(test_prefix_on_full_message),
		cmocka_unit_test(test_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
