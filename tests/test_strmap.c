/*
 * test_strmap.c: the string -> integer map (core/strmap.h): keys are byte
 * strings (length counts, NULs included), short keys kept in the slot and
 * long ones in blocks, growth keeps every key, clear forgets them all.
 * The big test checks the map against a plain array of what was put.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "strmap.h"
#include "salesengine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
	*state = se_strmap_new();
	return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	se_strmap_free(*state);
	return 0;
}

static int64_t get(se_strmap *m, const char *key, size_t len)
{
	int64_t v = -12345;

	if (!se_strmap_get(m, key, len, &v))
		return -1;
	return v;
}

static void test_put_get_overwrite(void **state)
{
	se_strmap *m = *state;
	int64_t v = 77;

	assert_int_equal(se_strmap_count(m), 0);
	assert_int_equal(se_strmap_get(m, "Anna", 4, &v), 0);
	assert_int_equal(v, 77); /* a miss leaves *value alone */
	assert_int_equal(se_strmap_put(m, "Anna", 4, 1), SE_OK);
	assert_int_equal(se_strmap_put(m, "Boris", 5, 2), SE_OK);
	assert_int_equal(get(m, "Anna", 4), 1);
	assert_int_equal(get(m, "Boris", 5), 2);
	assert_int_equal(se_strmap_count(m), 2);
	/* Overwriting keeps one key. */
	assert_int_equal(se_strmap_put(m, "Anna", 4, INT64_MIN), SE_OK);
	assert_true(get(m, "Anna", 4) == INT64_MIN);
	assert_int_equal(se_strmap_count(m), 2);
}

static void test_length_is_part_of_the_key(void **state)
{
	se_strmap *m = *state;
	static const char withnul[] = "ab\0cd";

	assert_int_equal(se_strmap_put(m, "ab", 2, 1), SE_OK);
	assert_int_equal(se_strmap_put(m, withnul, 5, 2), SE_OK);
	assert_int_equal(se_strmap_put(m, withnul, 3, 3), SE_OK);  /* "ab\0" */
	assert_int_equal(se_strmap_put(m, "", 0, 4), SE_OK);        /* the empty key */
	assert_int_equal(get(m, "ab", 2), 1);
	assert_int_equal(get(m, withnul, 5), 2);
	assert_int_equal(get(m, withnul, 3), 3);
	assert_int_equal(get(m, "abcd", 0), 4);
	assert_int_equal(get(m, "a", 1), -1);
	assert_int_equal(get(m, "ab\0ce", 5), -1);
	assert_int_equal(se_strmap_count(m), 4);
}

/* 16 bytes fit in the slot, 17 go to a block: both sides of the line, and
 * keys that differ only in their last byte. */
static void test_inline_and_block_keys(void **state)
{
	se_strmap *m = *state;
	char k16[17], k17[18], k17b[18];

	memset(k16, 'x', 16);
	k16[16] = '\0';
	memset(k17, 'x', 17);
	k17[17] = '\0';
	memcpy(k17b, k17, sizeof k17b);
	k17b[16] = 'y';
	assert_int_equal(se_strmap_put(m, k16, 16, 16), SE_OK);
	assert_int_equal(se_strmap_put(m, k17, 17, 17), SE_OK);
	assert_int_equal(se_strmap_put(m, k17b, 17, 18), SE_OK);
	assert_int_equal(get(m, k16, 16), 16);
	assert_int_equal(get(m, k17, 17), 17);
	assert_int_equal(get(m, k17b, 17), 18);
	assert_int_equal(get(m, k17, 16), 16); /* the first 16 bytes are k16 */
}

/* A key larger than a whole block gets a block of its own, and keys put
 * after it still work. */
static void test_key_larger_than_a_block(void **state)
{
	se_strmap *m = *state;
	size_t len = 300u << 10;
	char *big = malloc(len);

	assert_non_null(big);
	for (size_t i = 0; i < len; i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(se_strmap_put(m, "before-the-long-one", 19, 1), SE_OK);
	assert_int_equal(se_strmap_put(m, big, len, 2), SE_OK);
	assert_int_equal(se_strmap_put(m, "after-the-long-one", 18, 3), SE_OK);
	assert_int_equal(get(m, big, len), 2);
	big[len - 1] ^= 1;
	assert_int_equal(get(m, big, len), -1);
	assert_int_equal(get(m, "before-the-long-one", 19), 1);
	assert_int_equal(get(m, "after-the-long-one", 18), 3);
	free(big);
}

/* 200,000 keys (many growths, keys of 3 to 40 bytes): each one found with
 * its own value, absent ones not found, the count right. */
static void test_many_keys_survive_growth(void **state)
{
	se_strmap *m = *state;
	enum { N = 200000 };
	char key[64];

	for (int i = 0; i < N; i++) {
		int len = snprintf(key, sizeof key, "%d%.*s", i, i % 32, "-deal-key-with-a-long-tail------");

		assert_int_equal(se_strmap_put(m, key, (size_t)len, (int64_t)i * 3), SE_OK);
	}
	assert_int_equal(se_strmap_count(m), N);
	for (int i = 0; i < N; i++) {
		int len = snprintf(key, sizeof key, "%d%.*s", i, i % 32, "-deal-key-with-a-long-tail------");

		if (get(m, key, (size_t)len) != (int64_t)i * 3)
			fail_msg("key %s: got %lld", key, (long long)get(m, key, (size_t)len));
	}
	for (int i = 0; i < 1000; i++) {
		int len = snprintf(key, sizeof key, "absent-%d", i);

		assert_int_equal(get(m, key, (size_t)len), -1);
	}
}

/* Room made ahead keeps the keys already in and takes the ones to come
 * without growing again; a smaller reservation changes nothing. */
static void test_reserve(void **state)
{
	se_strmap *m = *state;
	enum { N = 50000 };
	char key[64];
	size_t bytes;

	for (int i = 0; i < 100; i++) {
		int len = snprintf(key, sizeof key, "before-%d-with-a-tail-past-16", i);

		assert_int_equal(se_strmap_put(m, key, (size_t)len, i), SE_OK);
	}
	assert_int_equal(se_strmap_reserve(m, N), SE_OK);
	bytes = se_strmap_slot_bytes(m);
	assert_true(bytes >= se_strmap_bytes(N));
	assert_int_equal(se_strmap_reserve(m, 10), SE_OK);
	assert_int_equal(se_strmap_slot_bytes(m), bytes);
	assert_int_equal(se_strmap_reserve(m, SIZE_MAX / 2), SE_ENOMEM);
	assert_int_equal(se_strmap_slot_bytes(m), bytes);
	for (int i = 100; i < N; i++) {
		int len = snprintf(key, sizeof key, "k%d", i);

		assert_int_equal(se_strmap_put(m, key, (size_t)len, i), SE_OK);
	}
	assert_int_equal(se_strmap_slot_bytes(m), bytes); /* never grew */
	assert_int_equal(se_strmap_count(m), N);
	for (int i = 0; i < N; i++) {
		int len = i < 100 ? snprintf(key, sizeof key, "before-%d-with-a-tail-past-16", i)
		                  : snprintf(key, sizeof key, "k%d", i);

		assert_int_equal(get(m, key, (size_t)len), i);
	}
}

static void test_clear_forgets_and_reuses(void **state)
{
	se_strmap *m = *state;
	char key[32];

	for (int i = 0; i < 1000; i++) {
		int len = snprintf(key, sizeof key, "manager number %d", i); /* > 16 bytes: blocks */

		assert_int_equal(se_strmap_put(m, key, (size_t)len, i), SE_OK);
	}
	se_strmap_clear(m);
	assert_int_equal(se_strmap_count(m), 0);
	assert_int_equal(get(m, "manager number 5", 16), -1);
	assert_int_equal(get(m, "manager number 999", 18), -1);
	assert_int_equal(se_strmap_put(m, "manager number 5", 16, 50), SE_OK);
	assert_int_equal(get(m, "manager number 5", 16), 50);
	assert_int_equal(se_strmap_count(m), 1);
}

/* The budget estimate follows the real rule: 64 slots at least, grown
 * (doubled) while the map would be more than half full. */
static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The slot comes from the hash's low 32 bits: keys that differ in one
 * byte anywhere (the first, the middle, the tail a whole word leaves, at
 * every length from 1 to 40, every other value of that byte: 209,100
 * keys) must not pile up on the same value.  About as many equal values
 * as random ones would give (5 expected) pass; a hash that skipped a byte
 * position would give thousands. */
static void test_hash_sees_every_byte(void **state)
{
	enum { LENS = 40 };
	uint32_t *h = malloc(sizeof *h * 256 * LENS * LENS);
	size_t n = 0, same = 0;

	(void)state;
	assert_non_null(h);
	for (size_t len = 1; len <= LENS; len++) {
		for (size_t pos = 0; pos < len; pos++) {
			for (int v = 0; v < 256; v++) {
				char key[LENS];

				if (v == 'x')
					continue;
				memset(key, 'x', len);
				key[pos] = (char)v;
				h[n++] = (uint32_t)se_strmap_hash(key, len);
			}
		}
	}
	qsort(h, n, sizeof *h, cmp_u32);
	for (size_t i = 1; i < n; i++)
		same += h[i] == h[i - 1];
	assert_true(same < 20);
	free(h);
}

static void test_bytes_estimate(void **state)
{
	size_t base = se_strmap_bytes(0);

	(void)state;
	assert_true(base > 0);
	assert_int_equal(base % 64, 0);
	assert_int_equal(se_strmap_bytes(32), base);
	assert_int_equal(se_strmap_bytes(33), base * 2);
	assert_int_equal(se_strmap_bytes(64), base * 2);
	assert_int_equal(se_strmap_bytes(65), base * 4);
	assert_int_equal(se_strmap_bytes(1000000), base * 32768); /* 2^21 slots */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_length_is_part_of_the_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_and_block_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_larger_than_a_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_keys_survive_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_forgets_and_reuses, setup, teardown),
		cmocka_unit_test(test_bytes_estimate),
		cmocka_unit_test(test_hash_sees_every_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
