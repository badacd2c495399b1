/*
 * test_i18n.c: language choice, the catalog and numbers for people
 * (core/i18n.c).  Expected strings are written out by hand from the rules
 * in i18n.h: groups of three, "," and "." in English; U+00A0 and "," in
 * Russian, "₽" after money, a no-break space before "%".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "i18n.h"

#include <math.h>
#include <string.h>

#define NBSP "\xc2\xa0"

size_t se_i18n_catalog(size_t i, const char **en, const char **ru);

static void test_parse_and_locale(void **state)
{
	se_lang l = SE_LANG_EN;

	(void)state;
	assert_int_equal(se_lang_parse("ru", &l), 0);
	assert_int_equal(l, SE_LANG_RU);
	assert_int_equal(se_lang_parse("EN", &l), 0);
	assert_int_equal(l, SE_LANG_EN);
	assert_int_equal(se_lang_parse("de", &l), -1);
	assert_int_equal(se_lang_parse(NULL, &l), -1);
	assert_string_equal(se_lang_name(SE_LANG_RU), "ru");
	/* POSIX precedence: LC_ALL, then LC_MESSAGES, then LANG; empty is unset */
	assert_int_equal(se_lang_from_locale(NULL, NULL, "ru_RU.UTF-8"), SE_LANG_RU);
	assert_int_equal(se_lang_from_locale("", "", "ru_RU.UTF-8"), SE_LANG_RU);
	assert_int_equal(se_lang_from_locale("C", NULL, "ru_RU.UTF-8"), SE_LANG_EN);
	assert_int_equal(se_lang_from_locale(NULL, "ru_UA.UTF-8", "en_US.UTF-8"), SE_LANG_RU);
	assert_int_equal(se_lang_from_locale(NULL, NULL, NULL), SE_LANG_EN);
	assert_int_equal(se_lang_from_locale(NULL, NULL, "C.UTF-8"), SE_LANG_EN);
	assert_int_equal(se_lang_from_locale(NULL, NULL, "rw_RW"), SE_LANG_EN);
}

static void test_catalog(void **state)
{
	const char *en, *ru, *en2, *ru2;
	size_t n = se_i18n_catalog(0, &en, &ru);

	(void)state;
	assert_true(n > 50);
	assert_string_equal(se_tr(SE_LANG_RU, "Leads"), "Лиды");
	assert_string_equal(se_tr(SE_LANG_EN, "Leads"), "Leads");
	/* an id the catalog lacks comes back as written */
	assert_string_equal(se_tr(SE_LANG_RU, "no such text"), "no such text");
	for (size_t i = 0; i < n; i++) {
		se_i18n_catalog(i, &en, &ru);
		assert_true(en[0] != '\0' && ru[0] != '\0');
		/* the same printf conversions in both, so a format cannot crash */
		assert_int_equal(strstr(en, "%s") != NULL, strstr(ru, "%s") != NULL);
		assert_int_equal(strstr(en, "%d") != NULL, strstr(ru, "%d") != NULL);
		for (size_t j = i + 1; j < n; j++) {
			se_i18n_catalog(j, &en2, &ru2);
			if (strcmp(en, en2) == 0)
				fail_msg("duplicate message id '%s'", en);
		}
	}
}

static void test_numbers(void **state)
{
	char b[SE_FMT_SIZE];

	(void)state;
	assert_string_equal(se_fmt_int(SE_LANG_EN, 1234567, b, sizeof b), "1,234,567");
	assert_string_equal(se_fmt_int(SE_LANG_RU, 1234567, b, sizeof b), "1" NBSP "234" NBSP "567");
	assert_string_equal(se_fmt_int(SE_LANG_EN, 999, b, sizeof b), "999");
	assert_string_equal(se_fmt_int(SE_LANG_EN, 1000, b, sizeof b), "1,000");
	assert_string_equal(se_fmt_int(SE_LANG_EN, -1000, b, sizeof b), "-1,000");
	assert_string_equal(se_fmt_int(SE_LANG_EN, 0, b, sizeof b), "0");
	assert_string_equal(se_fmt_int(SE_LANG_EN, INT64_MIN, b, sizeof b),
	                    "-9,223,372,036,854,775,808");
	assert_string_equal(se_fmt_fixed(SE_LANG_EN, 1234567.891, 2, b, sizeof b), "1,234,567.89");
	assert_string_equal(se_fmt_fixed(SE_LANG_RU, 1234567.891, 2, b, sizeof b),
	                    "1" NBSP "234" NBSP "567,89");
	assert_string_equal(se_fmt_fixed(SE_LANG_EN, 2.5, 0, b, sizeof b), "3");
	assert_string_equal(se_fmt_fixed(SE_LANG_EN, -0.004, 2, b, sizeof b), "0.00");
	assert_string_equal(se_fmt_fixed(SE_LANG_EN, -1.5, 1, b, sizeof b), "-1.5");
	assert_string_equal(se_fmt_kopecks(SE_LANG_EN, 123456789, b, sizeof b), "1,234,567.89");
	assert_string_equal(se_fmt_kopecks(SE_LANG_RU, 123456789, b, sizeof b),
	                    "1" NBSP "234" NBSP "567,89" NBSP "₽");
	assert_string_equal(se_fmt_kopecks(SE_LANG_EN, -5, b, sizeof b), "-0.05");
	assert_string_equal(se_fmt_money(SE_LANG_EN, 148500, b, sizeof b), "148,500.00");
	assert_string_equal(se_fmt_money(SE_LANG_RU, 0.1, b, sizeof b), "0,10" NBSP "₽");
	assert_string_equal(se_fmt_percent(SE_LANG_EN, 0.214, b, sizeof b), "21.4%");
	assert_string_equal(se_fmt_percent(SE_LANG_RU, 0.214, b, sizeof b), "21,4" NBSP "%");
	assert_string_equal(se_fmt_percent(SE_LANG_EN, 1.0 / 3, b, sizeof b), "33.3%");
	assert_string_equal(se_fmt_percent(SE_LANG_EN, 1, b, sizeof b), "100.0%");
	assert_string_equal(se_fmt_percent(SE_LANG_EN, 0.0005, b, sizeof b), "0.1%");
	assert_string_equal(se_fmt_percent(SE_LANG_EN, NAN, b, sizeof b), "-");
	/* truncated like snprintf */
	assert_string_equal(se_fmt_int(SE_LANG_EN, 1234567, b, 4), "1,2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_locale),
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
