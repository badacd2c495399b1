/*
 * money.c: amounts in integer kopecks (cents) and the roundings every
 * report and the metrics API share, so a total printed in one place is the
 * same number in every other.
 *
 * Never: depends on a report, a cube or a format: it sits below all of them.
 */
#include "money.h"

#include <math.h>

int64_t se_kopecks_of(double amount)
{
	return isnan(amount) ? 0 : llround(amount * 100.0);
}

int64_t se_div_round(int64_t num, int64_t den)
{
	__int128 n = (__int128)num * 2 + den, d = (__int128)den * 2;
	__int128 q = n / d;

	if (n % d != 0 && n < 0) /* floor, not truncation */
		q--;
	return (int64_t)q;
}

int64_t se_kopecks_times(int64_t kopecks, double rate)
{
	return llround((double)kopecks * rate);
}
