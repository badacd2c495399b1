/*
 * money.h: kopecks and roundings (money.c).
 *
 * A deal's amount is held in int64 kopecks; it is counted only up to
 * SE_AMOUNT_MAX (90,000,000,000,000,000.00: its kopecks still fit 63
 * bits), larger ones are left out of every sum and reported.  Sums of
 * amounts are se_money, 128-bit: 2^32 deals of the maximum add up to less
 * than 2^96, so no sum a store can hold wraps, and totals print exactly.
 */
#ifndef SE_MONEY_H
#define SE_MONEY_H

#include <stddef.h>
#include <stdint.h>

typedef __int128 se_money;

#define SE_AMOUNT_MAX 9e16

/* Is a deal amount counted: a number within +-SE_AMOUNT_MAX (NAN, no
 * amount, is not). */
int se_amount_counted(double amount);

/* A deal amount in kopecks, rounded half away from zero; 0 for NAN and
 * for an amount over SE_AMOUNT_MAX (the caller reports those). */
int64_t se_kopecks_of(double amount);

/* num / den rounded half up (towards +infinity on a tie); den > 0. */
int64_t se_div_round(int64_t num, int64_t den);
se_money se_money_div_round(se_money num, int64_t den);

/* kopecks x rate, rounded to the kopeck, halves away from zero. */
se_money se_kopecks_times(se_money kopecks, double rate);

/* a + b for int64 counters: saturates at the int64 range instead of
 * overflowing (the metrics API reads money as Lua numbers). */
int64_t se_add_sat(int64_t a, int64_t b);
/* A sum clamped to the int64 range. */
int64_t se_money_to_int64(se_money m);

/* Room for the text of any se_money with any decimals: 39 digits, a sign,
 * a decimal point and the terminating zero, rounded up. */
#define SE_FIXED_SIZE 48

/* v / 10^decimals as text, exactly, with decimals (0..18) digits after
 * the point: "-0.3" from -3 and 1, "42" from 42 and 0 (as "%lld" prints
 * it).  No floating point and no printf: a big report prints hundreds of
 * thousands of these, and snprintf was most of the cost of its text.
 * Writes at most size - 1 bytes and a zero (cut short like snprintf;
 * SE_FIXED_SIZE always suffices) and returns how many it wrote. */
size_t se_format_fixed(se_money v, int decimals, char *buf, size_t size);

/* "1234.50" from 123450 kopecks: se_format_fixed with two decimals. */
void se_format_kopecks(se_money k, char *buf, size_t size);

#endif
