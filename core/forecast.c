/*
 * forecast.c: the pre-sale forecast's parts (forecast.h).
 *
 * Never: sums parts over managers or stages; its callers do, each over
 * its own storage.
 */
#include "forecast.h"
#include "money.h"

se_win_rate se_win_rate_pick(int64_t won, int64_t closed, int64_t team_won, int64_t team_closed)
{
	se_win_rate w = { won, closed, "manager" };

	if (closed > 0)
		return w;
	w.won = team_won;
	w.closed = team_closed;
	w.basis = team_closed > 0 ? "team" : "none";
	return w;
}

se_money se_forecast_part(se_money amount, const se_win_rate *w)
{
	if (w->closed == 0)
		return 0;
	return se_money_div_round(amount * w->won, w->closed);
}
