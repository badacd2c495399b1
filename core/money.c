/*
 * money.c: amounts in integer kopecks (cents) and the roundings every
 * report and the metrics API share, so a total printed in one place is the
 * same number in every other; and the text of exact numbers (counts,
 * tenths, kopecks), which every format prints through se_format_fixed.
 *
 * Never: depends on a report, a cube or a format: it sits below all of them.
 */
#include "money.h"

#include <math.h>
#include <string.h>

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

/* Two digits per division: "00" .. "99". */
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* u's digits (at least one) ending just before p; returns where they start. */
static char *digits_before(char *p, uint64_t u)
{
	while (u >= 100) {
		p -= 2;
		memcpy(p, digit_pairs + 2 * (u % 100), 2);
		u /= 100;
	}
	if (u >= 10) {
		p -= 2;
		memcpy(p, digit_pairs + 2 * u, 2);
	} else {
		*--p = (char)('0' + u);
	}
	return p;
}

/* Exactly n digits of u (u < 10^n), leading zeros kept. */
static char *padded_before(char *p, uint64_t u, int n)
{
	char *start = p - n;

	while (p > start) {
		*--p = (char)('0' + u % 10);
		u /= 10;
	}
	return p;
}

size_t se_format_fixed(se_money v, int decimals, char *buf, size_t size)
{
	static const uint64_t pow10[] = { 1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull,
		1000000ull, 10000000ull, 100000000ull, 1000000000ull, 10000000000ull,
		100000000000ull, 1000000000000ull, 10000000000000ull, 100000000000000ull,
		1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
		1000000000000000000ull };
	const uint64_t e19 = 10000000000000000000ull;
	char tmp[SE_FIXED_SIZE], *end = tmp + sizeof tmp, *p = end;
	unsigned __int128 a = v < 0 ? (unsigned __int128)0 - (unsigned __int128)v : (unsigned __int128)v;
	size_t n;

	if (size == 0)
		return 0;
	/* Counts and single amounts fit 64 bits, whose divisions by a constant
	 * are multiplications; only sums of money take the 128-bit divisions
	 * (a library call each). */
	if (decimals > 0) {
		uint64_t scale = pow10[decimals];

		if ((a >> 64) == 0) {
			p = padded_before(p, (uint64_t)a % scale, decimals);
			a = (uint64_t)a / scale;
		} else {
			p = padded_before(p, (uint64_t)(a % scale), decimals);
			a /= scale;
		}
		*--p = '.';
	}
	while ((a >> 64) != 0) {
		p = padded_before(p, (uint64_t)(a % e19), 19);
		a /= e19;
	}
	p = digits_before(p, (uint64_t)a);
	if (v < 0)
		*--p = '-';
	n = (size_t)(end - p);
	if (n > size - 1)
		n = size - 1; /* cut short as snprintf would */
	memcpy(buf, p, n);
	buf[n] = '\0';
	return n;
}

void se_format_kopecks(se_money k, char *buf, size_t size)
{
	se_format_fixed(k, 2, buf, size);
}
