/*
 * forecast.h: the pre-sale forecast's one definition (docs/METRICS.md 4c),
 * used by the report's accessor (se_report_presale, which the formats
 * print) and by the cube (se_cube_forecast, which scripts read), so the two
 * cannot drift apart.
 *
 * A manager's open amount at a pre-sale stage is multiplied by that
 * manager's win rate from the stage (won / closed of the deals that left
 * it), else the team's, else 0; each (manager, stage) part is rounded to
 * the kopeck once and totals add the rounded parts.
 */
#ifndef SE_FORECAST_H
#define SE_FORECAST_H

#include "money.h"

#include <stdint.h>

typedef struct se_win_rate {
	int64_t won, closed;   /* the counts the rate is taken from */
	const char *basis;     /* "manager", "team" or "none" */
} se_win_rate;

/* The rate a part uses: the manager's when it closed a deal from the
 * stage, else the team's, else none (0). */
se_win_rate se_win_rate_pick(int64_t won, int64_t closed, int64_t team_won, int64_t team_closed);

/* amount x won / closed, rounded half up to the kopeck; 0 when closed is 0.
 * Exact in 128 bits while amount x won < 2^127 (amounts below 2^96 and
 * fewer than 2^31 closed deals). */
se_money se_forecast_part(se_money amount, const se_win_rate *w);

#endif
