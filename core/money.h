/*
 * money.h: kopecks and roundings (money.c).
 */
#ifndef SE_MONEY_H
#define SE_MONEY_H

#include <stdint.h>

/* A deal amount in kopecks, rounded half away from zero; 0 for NAN. */
int64_t se_kopecks_of(double amount);

/* num / den rounded half up (towards +infinity on a tie); den > 0. */
int64_t se_div_round(int64_t num, int64_t den);

/* kopecks x rate, rounded to the kopeck, halves away from zero. */
int64_t se_kopecks_times(int64_t kopecks, double rate);

#endif
