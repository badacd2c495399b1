/*
 * test_vec.c: growing arrays (core/vec.h): the capacities it picks, its
 * caps, and that a failure leaves the caller's array as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "huge.h"
#include "vec.h"

#include <stdlib.h>
#include <string.h>

/* One test asks for more memory than exists, to see the failure handled:
 * under AddressSanitizer that must be a NULL from realloc, not an abort.
 * (Read before $ASAN_OPTIONS, which still adds to it.) */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static void test_first_then_doubling(void **state)
{
	int *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(SE_VEC_RESERVE(v, cap, 1, 8), SE_OK);
	assert_non_null(v);
	assert_int_equal(cap, 8);
	for (int i = 0; i < 8; i++)
		v[i] = i;
	/* Room already: nothing moves. */
	int *same = v;
	assert_int_equal(SE_VEC_RESERVE(v, cap, 8, 8), SE_OK);
	assert_ptr_equal(v, same);
	assert_int_equal(cap, 8);
	/* One more doubles; far more doubles as often as needed. */
	assert_int_equal(SE_VEC_RESERVE(v, cap, 9, 8), SE_OK);
	assert_int_equal(cap, 16);
	assert_int_equal(SE_VEC_RESERVE(v, cap, 100, 8), SE_OK);
	assert_int_equal(cap, 128);
	/* The contents survive every move. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(v[i], i);
	v[127] = 7; /* the whole capacity is usable (ASan checks) */
	free(v);
}

static void test_first_zero_starts_at_one(void **state)
{
	char *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(se_vec_reserve(&v, &cap, 1, 1, 0, 0), SE_OK);
	assert_int_equal(cap, 1);
	assert_int_equal(se_vec_reserve(&v, &cap, 3, 1, 0, 0), SE_OK);
	assert_int_equal(cap, 4);
	free(v);
}

static void test_max_holds_the_capacity(void **state)
{
	double *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(se_vec_reserve(&v, &cap, 5, sizeof *v, 4, 10), SE_OK);
	assert_int_equal(cap, 8);
	/* Doubling would give 16: held to 10. */
	assert_int_equal(se_vec_reserve(&v, &cap, 9, sizeof *v, 4, 10), SE_OK);
	assert_int_equal(cap, 10);
	v[9] = 1.5;
	/* Beyond max is refused, and nothing changes. */
	double *before = v;
	assert_int_equal(se_vec_reserve(&v, &cap, 11, sizeof *v, 4, 10), SE_ENOMEM);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 10);
	assert_true(v[9] == 1.5);
	free(v);
}

static void test_overflowing_sizes_are_refused(void **state)
{
	struct big { char b[64]; } *v = NULL;
	size_t cap = 0;

	(void)state;
	/* need * elem wraps around size_t (or passes PTRDIFF_MAX): refused
	 * before any realloc. */
	assert_int_equal(SE_VEC_RESERVE(v, cap, SIZE_MAX / 32, 16), SE_ENOMEM);
	assert_null(v);
	assert_int_equal(cap, 0);
	/* Doubling past SIZE_MAX / 2 stops at need instead of wrapping to 0. */
	assert_int_equal(se_vec_reserve(&v, &cap, SIZE_MAX - 1, 1, SIZE_MAX / 2 + 2, 0), SE_ENOMEM);
	assert_null(v);
	assert_int_equal(cap, 0);
}

static void test_failed_allocation_keeps_the_array(void **state)
{
	char *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(SE_VEC_RESERVE(v, cap, 4, 4), SE_OK);
	memcpy(v, "abc", 4);
	/* More than any machine gives, yet a valid size: realloc fails. */
	assert_int_equal(SE_VEC_RESERVE(v, cap, (size_t)1 << 60, 4), SE_ENOMEM); /* 4 EiB */
	assert_int_equal(cap, 4);
	assert_string_equal(v, "abc");
	free(v);
}

/* Grows a huge array one element at a time to n elements: from 1024 it
 * doubles up to a megabyte, then grows leap-fold (leap 0: the default
 * SE_VEC_RESERVE_HUGE, eightfold), moving past a megabyte `moves` times,
 * and keeps every element through each move into a new block. */
static void grow_huge(size_t n, size_t leap, size_t moves)
{
	int32_t *v = NULL;
	size_t cap = 0, last = 0, moves_past_mb = 0, factor = leap ? leap : 8;

	for (size_t i = 0; i < n; i++) {
		if (leap)
			assert_int_equal(SE_VEC_RESERVE_LEAP(v, cap, i + 1, 1024, leap), SE_OK);
		else
			assert_int_equal(SE_VEC_RESERVE_HUGE(v, cap, i + 1, 1024), SE_OK);
		if (cap != last) {
			if (last == 0)
				assert_int_equal(cap, 1024);
			else if (last * sizeof *v < ((size_t)1 << 20))
				assert_int_equal(cap, 2 * last);
			else {
				assert_int_equal(cap, factor * last);
				moves_past_mb++;
			}
			last = cap;
		}
		v[i] = (int32_t)(i * 7);
	}
	assert_int_equal(moves_past_mb, moves);
	for (size_t i = 0; i < n; i++)
		if (v[i] != (int32_t)(i * 7))
			fail_msg("element %zu lost", i);
	free(v);
}

static void test_huge_doubles_then_grows_eightfold(void **state)
{
	(void)state;
	grow_huge((size_t)3 << 20, 0, 2); /* 1 MiB -> 8 MiB -> 64 MiB */
}

/* A leap of 64 past a megabyte: one move into a block of 64 MiB, which
 * then holds the rest without moving again. */
static void test_huge_grows_by_leap(void **state)
{
	(void)state;
	grow_huge((size_t)12 << 20, 64, 1); /* 1 MiB -> 64 MiB */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_then_doubling),
		cmocka_unit_test(test_first_zero_starts_at_one),
		cmocka_unit_test(test_max_holds_the_capacity),
		cmocka_unit_test(test_overflowing_sizes_are_refused),
		cmocka_unit_test(test_failed_allocation_keeps_the_array),
		cmocka_unit_test(test_huge_doubles_then_grows_eightfold),
		cmocka_unit_test(test_huge_grows_by_leap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
