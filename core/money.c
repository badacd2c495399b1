/*
 * money.c: amounts in integer kopecks (cents) and the roundings every
 * report and the metrics API share, so a total printed in one place is the
 * same number in every other.
 *
 * Never: depends on a report, a cube or a format: it sits below all of them.
 */
#include "money.h"

#include <math.h>
#include <stdio.h>

int se_amount_counted(double amount)
{
	return !isnan(amount) && fabs(amount) <= SE_AMOUNT_MAX;
}

int64_t se_kopecks_of(double amount)
{
	return se_amount_counted(amount) ? llround(amount * 100.0) : 0;
}

int64_t se_div_round(int64_t num, int64_t den)
{
	return (int64_t)se_money_div_round(num, den);
}

se_money se_money_div_round(se_money num, int64_t den)
{
	se_money n = num * 2 + den, d = (se_money)den * 2;
	se_money q = n / d;

	if (n % d != 0 && n < 0) /* floor, not truncation */
		q--;
	return q;
}

se_money se_kopecks_times(se_money kopecks, double rate)
{
	double x = (double)kopecks * rate;

	if (fabs(x) < 9e18)
		return llround(x);
	/* beyond int64: a double that large is a whole number already */
	return (se_money)round(x);
}

int64_t se_add_sat(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return a > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

int64_t se_money_to_int64(se_money m)
{
	return m > INT64_MAX ? INT64_MAX : m < INT64_MIN ? INT64_MIN : (int64_t)m;
}

void se_format_kopecks(se_money k, char *buf, size_t size)
{
	unsigned __int128 a = k < 0 ? (unsigned __int128)0 - (unsigned __int128)k : (unsigned __int128)k;
	unsigned __int128 units = a / 100;
	char digits[48];
	int n = 0;

	do {
		digits[n++] = (char)('0' + (int)(units % 10));
		units /= 10;
	} while (units > 0);
	{
		char tmp[64];
		int j = 0;

		if (k < 0)
			tmp[j++] = '-';
		while (n > 0)
			tmp[j++] = digits[--n];
		tmp[j] = '\0';
		snprintf(buf, size, "%s.%02d", tmp, (int)(a % 100));
	}
}
