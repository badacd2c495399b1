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
#include "money.h"

#include <math.h>
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
	assert_string_equal(fmt((se_money)1 << 100), "12676506002282294014967032053.76");
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
		cmocka_unit_test(test_roundings),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_forecast_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
