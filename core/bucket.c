/*
 * bucket.c: the period bucket of an instant in the report's zone (a day,
 * an ISO week, a month, or the whole range), its label, and a small cache
 * of recent buckets for the pass.
 *
 * Never: counts anything; it only maps instants to bucket keys and keys to
 * labels, for report.c, insight.c and the formats alike.
 */
#include "report.h"
#include "timeconv.h"

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t se_report_bucket(const se_report *rep, int64_t t)
{
	int64_t days, y;
	int m, d;

	if (rep->period == SE_PERIOD_TOTAL)
		return 0;
	days = floor_div(se_tz_utc_to_local(rep->tz, t), 86400);
	switch (rep->period) {
	case SE_PERIOD_DAY:
		return days;
	case SE_PERIOD_WEEK:
		return floor_div(days + 3, 7); /* 1970-01-01 is a Thursday: weeks start on Monday */
	default:
		se_civil_from_days(days, &y, &m, &d);
		return y * 12 + (m - 1);
	}
}

/* First local day of bucket key (day, week or month). */
static int64_t bucket_first_day(const se_report *rep, int64_t key)
{
	switch (rep->period) {
	case SE_PERIOD_DAY:
		return key;
	case SE_PERIOD_WEEK:
		return key * 7 - 3;
	default:
		return se_days_from_civil(floor_div(key, 12), (int)(key - floor_div(key, 12) * 12) + 1, 1);
	}
}

int64_t se_report_bucket_lookup(const se_report *rep, se_bucket_cache *c, int64_t t)
{
	int64_t key;
	int slot;

	if (rep->period == SE_PERIOD_TOTAL)
		return 0;
	/* a deal's events span a few buckets and deals arrive roughly in time
	 * order, so a handful of recent buckets answers nearly every lookup */
	for (int i = 0; i < SE_BUCKET_CACHE; i++)
		if (t >= c->lo[i] && t < c->hi[i]) {
			c->last = i;
			return c->key[i];
		}
	key = se_report_bucket(rep, t);
	slot = c->next;
	c->next = (c->next + 1) % SE_BUCKET_CACHE;
	c->key[slot] = key;
	c->last = slot;
	c->lo[slot] = se_tz_local_to_utc(rep->tz, bucket_first_day(rep, key) * 86400);
	c->hi[slot] = se_tz_local_to_utc(rep->tz, bucket_first_day(rep, key + 1) * 86400);
	/* an instant a zone change puts outside its own bucket's bounds is
	 * answered right, just not cached */
	if (t < c->lo[slot] || t >= c->hi[slot])
		c->lo[slot] = c->hi[slot] = 0;
	return key;
}

void se_report_bucket_label(const se_report *rep, int64_t key, char *buf, size_t size)
{
	int64_t y;
	int m, d;

	switch (rep->period) {
	case SE_PERIOD_DAY:
		se_civil_from_days(key, &y, &m, &d);
		snprintf(buf, size, "%04lld-%02d-%02d", (long long)y, m, d);
		return;
	case SE_PERIOD_WEEK: {
		/* ISO week: named by the year of its Thursday. */
		int64_t thursday = key * 7 - 3 + 3, jan1;

		se_civil_from_days(thursday, &y, &m, &d);
		jan1 = se_days_from_civil(y, 1, 1);
		snprintf(buf, size, "%04lld-W%02d", (long long)y, (int)((thursday - jan1) / 7 + 1));
		return;
	}
	case SE_PERIOD_MONTH:
		snprintf(buf, size, "%04lld-%02d", (long long)floor_div(key, 12), (int)(key - floor_div(key, 12) * 12) + 1);
		return;
	default:
		if (rep->from == NULL && rep->to == NULL)
			snprintf(buf, size, "all");
		else
			snprintf(buf, size, "%s..%s", rep->from ? rep->from : "", rep->to ? rep->to : "");
		return;
	}
}
