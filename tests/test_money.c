/*
 * test_money.c: kopecks, roundings and the forecast's parts (money.c,
 * forecast.c), each against values worked out by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "forecast.h"
#include "helpers.h"
#include "money.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *fmt(se_money k)
{
	static char buf[64];

	se_format_kopecks(k, buf, sizeof buf);
	return buf;
}

static void test_kopecks_of(void **state)
{
	(void)state;
	assert_int_equal(se_kopecks_of(1234.5), 123450);
	assert_int_equal(se_kopecks_of(0.005), 1);    /* halves away from zero */
	assert_int_equal(se_kopecks_of(-0.005), -1);
	assert_int_equal(se_kopecks_of(NAN), 0);
	assert_int_equal(se_kopecks_of(6e16), 6000000000000000000LL);
	assert_int_equal(se_kopecks_of(9e16), 9000000000000000000LL); /* the maximum: still counted */
	assert_true(se_amount_counted(9e16) && se_amount_counted(-9e16));
	assert_false(se_amount_counted(9.000000000000002e16));
	assert_false(se_amount_counted(1e308));
	assert_false(se_amount_counted(INFINITY));
	assert_false(se_amount_counted(NAN));
	assert_int_equal(se_kopecks_of(1e308), 0);    /* over the maximum: in no sum */
	assert_int_equal(se_kopecks_of(-INFINITY), 0);
}

static void test_format(void **state)
{
	se_money two = (se_money)6000000000000000000LL * 2;

	(void)state;
	assert_string_equal(fmt(0), "0.00");
	assert_string_equal(fmt(5), "0.05");
	assert_string_equal(fmt(-5), "-0.05");
	assert_string_equal(fmt(123450), "1234.50");
	assert_string_equal(fmt(two), "120000000000000000.00");
	assert_string_equal(fmt(-two), "-120000000000000000.00");
	assert_string_equal(fmt(INT64_MIN), "-92233720368547758.08");
	assert_string_equal(fmt(INT64_MAX), "92233720368547758.07");
	assert_string_equal(fmt(1999), "19.99");
	assert_string_equal(fmt(-100), "-1.00");
	assert_string_equal(fmt((se_money)1 << 100), "12676506002282294014967032053.76");
}

static const char *fixed(se_money v, int decimals)
{
	static char buf[SE_FIXED_SIZE];
	size_t n = se_format_fixed(v, decimals, buf, sizeof buf);

	assert_int_equal(n, strlen(buf));
	return buf;
}

static void test_format_fixed(void **state)
{
	const se_money e19 = (se_money)10000000000000000000ull;
	const se_money max = (se_money)(~(unsigned __int128)0 >> 1), min = -max - 1;
	char small[4];

	(void)state;
	/* integers, as "%lld": each step of the two-digits-at-a-time loop */
	assert_string_equal(fixed(0, 0), "0");
	assert_string_equal(fixed(7, 0), "7");
	assert_string_equal(fixed(10, 0), "10");
	assert_string_equal(fixed(99, 0), "99");
	assert_string_equal(fixed(100, 0), "100");
	assert_string_equal(fixed(-7, 0), "-7");
	assert_string_equal(fixed(-1000, 0), "-1000");
	assert_string_equal(fixed(INT64_MAX, 0), "9223372036854775807");
	assert_string_equal(fixed(INT64_MIN, 0), "-9223372036854775808");
	/* tenths: a zero before the point, and the sign of a part below one */
	assert_string_equal(fixed(0, 1), "0.0");
	assert_string_equal(fixed(3, 1), "0.3");
	assert_string_equal(fixed(-3, 1), "-0.3");
	assert_string_equal(fixed(-10, 1), "-1.0");
	assert_string_equal(fixed(1005, 1), "100.5");
	assert_string_equal(fixed(INT64_MAX, 1), "922337203685477580.7");
	assert_string_equal(fixed(INT64_MIN, 1), "-922337203685477580.8");
	/* hundredths: the zeros after the point stay */
	assert_string_equal(fixed(1, 2), "0.01");
	assert_string_equal(fixed(-1, 2), "-0.01");
	assert_string_equal(fixed(100, 2), "1.00");
	assert_string_equal(fixed(-1999, 2), "-19.99");
	/* beyond 64 bits: the zeros inside each 19-digit part stay */
	assert_string_equal(fixed(e19, 0), "10000000000000000000");
	assert_string_equal(fixed(e19 * e19, 0), "100000000000000000000000000000000000000");
	assert_string_equal(fixed(e19 * 100 + 5, 2), "10000000000000000000.05");
	assert_string_equal(fixed((se_money)1 << 64, 0), "18446744073709551616");
	assert_string_equal(fixed(-((se_money)1 << 64), 2), "-184467440737095516.16");
	assert_string_equal(fixed(max, 0), "170141183460469231731687303715884105727");
	assert_string_equal(fixed(min, 0), "-170141183460469231731687303715884105728");
	assert_string_equal(fixed(min, 2), "-1701411834604692317316873037158841057.28");
	assert_string_equal(fixed(min, 18), "-170141183460469231731.687303715884105728");
	/* cut short as snprintf cuts, and says how much it wrote */
	assert_int_equal(se_format_fixed(-123456, 0, small, sizeof small), 3);
	assert_string_equal(small, "-12");
	assert_int_equal(se_format_fixed(5, 0, small, 1), 0);
	assert_string_equal(small, "");
}

/* The texts printf gave before: "%lld" and "%s%lld.%lld" of the tenths,
 * "%s.%02d" of the kopecks, for numbers of every length. */
static void test_format_fixed_as_printf(void **state)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		uint64_t r = test_rng_next(&rng);
		int64_t v = (int64_t)(r >> test_rng_below(&rng, 64));
		unsigned long long a;
		char want[64];

		if (test_rng_next(&rng) & 1)
			v = v == INT64_MIN ? v : -v;
		a = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
		snprintf(want, sizeof want, "%lld", (long long)v);
		assert_string_equal(fixed(v, 0), want);
		snprintf(want, sizeof want, "%s%llu.%llu", v < 0 ? "-" : "", a / 10, a % 10);
		assert_string_equal(fixed(v, 1), want);
		snprintf(want, sizeof want, "%s%llu.%02llu", v < 0 ? "-" : "", a / 100, a % 100);
		assert_string_equal(fixed(v, 2), want);
	}
}

static void test_roundings(void **state)
{
	(void)state;
	assert_int_equal(se_div_round(5, 2), 3);      /* halves up */
	assert_int_equal(se_div_round(-5, 2), -2);    /* towards +infinity on a tie */
	assert_int_equal(se_div_round(-7, 2), -3);
	assert_int_equal(se_div_round(7, 3), 2);
	assert_true(se_money_div_round((se_money)INT64_MAX * 4, 2) == (se_money)INT64_MAX * 2);
	assert_int_equal((int64_t)se_kopecks_times(1001, 0.5), 501);  /* 500.5 -> 501 */
	assert_int_equal((int64_t)se_kopecks_times(-1001, 0.5), -501);
	assert_true(se_kopecks_times((se_money)6000000000000000000LL * 2, 0.5) == 6000000000000000000LL);
}

static void test_saturation(void **state)
{
	(void)state;
	assert_int_equal(se_add_sat(1, 2), 3);
	assert_int_equal(se_add_sat(INT64_MAX - 1, 5), INT64_MAX);
	assert_int_equal(se_add_sat(INT64_MIN + 1, -5), INT64_MIN);
	assert_int_equal(se_money_to_int64((se_money)INT64_MAX + 1), INT64_MAX);
	assert_int_equal(se_money_to_int64((se_money)INT64_MIN - 1), INT64_MIN);
	assert_int_equal(se_money_to_int64(-42), -42);
}

static void test_forecast_parts(void **state)
{
	se_win_rate w;

	(void)state;
	w = se_win_rate_pick(1, 3, 5, 10); /* the manager's own: 1 of 3 */
	assert_string_equal(w.basis, "manager");
	assert_true(se_forecast_part(1000, &w) == 333);
	assert_true(se_forecast_part(500, &w) == 167); /* 166.67 */
	w = se_win_rate_pick(0, 0, 5, 10); /* none closed: the team's 1/2 */
	assert_string_equal(w.basis, "team");
	assert_true(se_forecast_part(1001, &w) == 501); /* 500.5 rounds up */
	w = se_win_rate_pick(0, 0, 0, 0);
	assert_string_equal(w.basis, "none");
	assert_true(se_forecast_part(1000, &w) == 0);
	/* beyond 64 bits, exact */
	w = se_win_rate_pick(2, 3, 0, 0);
	assert_true(se_forecast_part((se_money)6000000000000000000LL * 3, &w) == (se_money)6000000000000000000LL * 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kopecks_of),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_fixed),
		cmocka_unit_test(test_format_fixed_as_printf),
		cmocka_unit_test(test_roundings),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_forecast_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
