/*
 * timeconv.c: civil dates, time zones and timestamp parsing, without libc's
 * clock functions.
 *
 * Dates are Howard Hinnant's days_from_civil / civil_from_days (proleptic
 * Gregorian, exact for every year that fits in the integers used), so nothing
 * here calls mktime, timegm, localtime or strptime, and the process's TZ and
 * locale never matter.
 *
 * A named zone is read once, by our own reader, from its TZif file (RFC 8536)
 * into sorted arrays of (UTC instant, offset from then on).  We read the file
 * rather than sample localtime_r under a temporarily set TZ because sampling
 * changes process-wide state (a race with any thread that reads the clock),
 * misses transitions closer together than its step and costs thousands of
 * localtime calls per open.  Instants at or after the last transition stored
 * in the file follow the POSIX TZ rule of the file's footer, evaluated per
 * year on demand, so a zone stays exact up to year 9999 and beyond whether
 * the system ships "fat" or "slim" files.
 *
 * Limits: a leap-second ("right/...") file is read as if leap seconds did not
 * exist, so its transitions come out up to ~27 s late; a version 1 file has no
 * footer, so its last offset holds for ever; a footer rule that names a DST
 * zone without dates uses the US rule "M3.2.0,M11.1.0", as glibc does.
 *
 * A NULL zone means UTC everywhere, matching se_import_opts.zone.  Instants
 * are assumed to lie within about +-2^62 s (far beyond any calendar use);
 * nearer the int64 limits the day arithmetic would overflow.
 */
#include "timeconv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SECS_PER_DAY 86400
#define TZIF_MAX_BYTES (4u << 20)   /* real files are < 4 KiB; more is not a TZif */
#define TZ_PATH_MAX 4096
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* ---- civil dates --------------------------------------------------------- */

static bool is_leap_year(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

int64_t se_days_from_civil(int64_t y, int m, int d)
{
	/* Counting years from March puts the leap day last, so the day of the
	 * year no longer depends on whether the year is a leap year. */
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const int64_t yoe = y - era * 400;                                   /* [0, 399] */
	const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
	const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */

	return era * 146097 + doe - 719468;
}

void se_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	const int64_t z = days + 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const int64_t doe = z - era * 146097;                                     /* [0, 146096] */
	const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	const int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11], Mar = 0 */
	const int month = (int)(mp < 10 ? mp + 3 : mp - 9);

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = month;
	*y = yoe + era * 400 + (month <= 2);
}

int se_days_in_month(int64_t y, int m)
{
	static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m < 1 || m > 12)
		return 0;
	return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	return q;
}

/* 0 = Sunday, as POSIX TZ rules count; 1970-01-01 was a Thursday. */
static int weekday_of(int64_t days)
{
	return (int)((days % 7 + 11) % 7);
}

/* ---- digits -------------------------------------------------------------- */

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* The caller guarantees the bytes exist; -1 when one is not a digit. */
static int two_digits(const char *p)
{
	const unsigned hi = (unsigned)((unsigned char)p[0] - '0');
	const unsigned lo = (unsigned)((unsigned char)p[1] - '0');

	return hi <= 9 && lo <= 9 ? (int)(hi * 10 + lo) : -1;
}

static int four_digits(const char *p)
{
	const int hi = two_digits(p);
	const int lo = two_digits(p + 2);

	return hi < 0 || lo < 0 ? -1 : hi * 100 + lo;
}

/* "+HH:MM", "+HHMM" or "+HH" (or with '-'), hours 0-14, minutes 0-59: the
 * spellings both zone names and timestamp suffixes use.  n is exact: nothing
 * may follow. */
static bool parse_utc_offset(const char *p, size_t n, int32_t *out)
{
	int sign, hours, minutes = 0;

	if (n != 3 && n != 5 && n != 6)
		return false;
	if (p[0] == '+')
		sign = 1;
	else if (p[0] == '-')
		sign = -1;
	else
		return false;
	hours = two_digits(p + 1);
	if (hours < 0 || hours > 14)
		return false;
	if (n == 5)
		minutes = two_digits(p + 3);
	else if (n == 6)
		minutes = p[3] == ':' ? two_digits(p + 4) : -1;
	if (minutes < 0 || minutes > 59)
		return false;
	*out = sign * (hours * 3600 + minutes * 60);
	return true;
}

/* ---- POSIX TZ rules (the TZif footer) ---------------------------------- */

struct rule_date {
	char kind;       /* 'J': Jn, 1-365 without Feb 29; 'D': n, 0-365; 'M': Mm.w.d */
	int day;         /* 'J' and 'D' */
	int month;       /* 'M': 1-12 */
	int week;        /* 'M': 1-5, 5 = the last such weekday */
	int weekday;     /* 'M': 0 = Sunday */
	int32_t time;    /* seconds after local midnight; may be < 0 or > 24 h */
};

struct tz_rule {
	int32_t std_offset; /* east of UTC, unlike the string's west-positive sign */
	int32_t dst_offset;
	bool has_dst;
	struct rule_date start; /* DST begins, in local standard time */
	struct rule_date end;   /* DST ends, in local daylight time */
};

/* A read position in a string that is not NUL-terminated. */
struct cursor {
	const char *p;
	const char *end;
};

static bool cursor_accept(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static bool cursor_number(struct cursor *c, int max_digits, int *out)
{
	int value = 0, digits = 0;

	while (c->p < c->end && is_digit(*c->p) && digits < max_digits) {
		value = value * 10 + (*c->p++ - '0');
		digits++;
	}
	*out = value;
	return digits > 0;
}

static bool is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Zone abbreviations are only labels to us: check their shape and skip them. */
static bool rule_skip_name(struct cursor *c)
{
	const char *start;

	if (cursor_accept(c, '<')) {
		start = c->p;
		while (c->p < c->end && (is_alpha(*c->p) || is_digit(*c->p) ||
		                         *c->p == '+' || *c->p == '-'))
			c->p++;
		return c->p - start >= 3 && cursor_accept(c, '>');
	}
	start = c->p;
	while (c->p < c->end && is_alpha(*c->p))
		c->p++;
	return c->p - start >= 3;
}

/* [+-]hh[:mm[:ss]] in seconds.  Offsets allow 24 hours, rule times 167 (the
 * RFC 8536 extension that lets a rule say "25:00" for "1:00 the next day"). */
static bool rule_hms(struct cursor *c, int max_hours, int32_t *out)
{
	int sign = 1, hours, minutes = 0, seconds = 0;

	if (cursor_accept(c, '-'))
		sign = -1;
	else
		cursor_accept(c, '+');
	if (!cursor_number(c, 3, &hours) || hours > max_hours)
		return false;
	if (cursor_accept(c, ':')) {
		if (!cursor_number(c, 2, &minutes) || minutes > 59)
			return false;
		if (cursor_accept(c, ':') && (!cursor_number(c, 2, &seconds) || seconds > 59))
			return false;
	}
	*out = sign * (hours * 3600 + minutes * 60 + seconds);
	return true;
}

static bool rule_parse_date(struct cursor *c, struct rule_date *d)
{
	if (cursor_accept(c, 'J')) {
		d->kind = 'J';
		if (!cursor_number(c, 3, &d->day) || d->day < 1 || d->day > 365)
			return false;
	} else if (cursor_accept(c, 'M')) {
		d->kind = 'M';
		if (!cursor_number(c, 2, &d->month) || d->month < 1 || d->month > 12 ||
		    !cursor_accept(c, '.') ||
		    !cursor_number(c, 1, &d->week) || d->week < 1 || d->week > 5 ||
		    !cursor_accept(c, '.') ||
		    !cursor_number(c, 1, &d->weekday) || d->weekday > 6)
			return false;
	} else {
		d->kind = 'D';
		if (!cursor_number(c, 3, &d->day) || d->day > 365)
			return false;
	}
	d->time = 2 * 3600;
	if (cursor_accept(c, '/') && !rule_hms(c, 167, &d->time))
		return false;
	return true;
}

/* std offset [dst [offset] [,start[/time],end[/time]]] */
static bool rule_parse(const char *s, size_t len, struct tz_rule *r)
{
	struct cursor c = { s, s + len };
	int32_t west;

	memset(r, 0, sizeof *r);
	if (!rule_skip_name(&c) || !rule_hms(&c, 24, &west))
		return false;
	r->std_offset = -west;
	r->dst_offset = r->std_offset;
	if (c.p == c.end)
		return true;
	if (!rule_skip_name(&c))
		return false;
	r->has_dst = true;
	r->dst_offset = r->std_offset + 3600;
	if (c.p < c.end && *c.p != ',') {
		if (!rule_hms(&c, 24, &west))
			return false;
		r->dst_offset = -west;
	}
	if (c.p == c.end) {
		r->start = (struct rule_date){ .kind = 'M', .month = 3, .week = 2, .time = 7200 };
		r->end = (struct rule_date){ .kind = 'M', .month = 11, .week = 1, .time = 7200 };
		return true;
	}
	return cursor_accept(&c, ',') && rule_parse_date(&c, &r->start) &&
	       cursor_accept(&c, ',') && rule_parse_date(&c, &r->end) && c.p == c.end;
}

/* Day (since 1970-01-01) on which a rule date falls in year y. */
static int64_t rule_day(const struct rule_date *d, int64_t y)
{
	const int64_t jan1 = se_days_from_civil(y, 1, 1);
	int64_t first, day, next_month;

	switch (d->kind) {
	case 'J':
		return jan1 + d->day - 1 + (d->day >= 60 && is_leap_year(y));
	case 'D':
		return jan1 + d->day;
	default:
		first = se_days_from_civil(y, d->month, 1);
		day = first + (d->weekday - weekday_of(first) + 7) % 7 + 7 * (d->week - 1);
		next_month = first + se_days_in_month(y, d->month);
		while (day >= next_month) /* week 5 means "the last one" */
			day -= 7;
		return day;
	}
}

/* UTC instants at which DST begins and ends in year y.  Each rule time is
 * wall-clock time of the offset in force just before the change. */
static void rule_year(const struct tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
	*start = rule_day(&r->start, y) * SECS_PER_DAY + r->start.time - r->std_offset;
	*end = rule_day(&r->end, y) * SECS_PER_DAY + r->end.time - r->dst_offset;
}

/* Offset at t under the rule, and the next instant where it may change.  The
 * year is taken from local standard time and DST is decided within that
 * year only (as glibc does); the next year boundary is therefore a possible
 * change point too, which keeps *next exact even for odd rules. */
static int32_t rule_offset_at(const struct tz_rule *r, int64_t t, int64_t *next)
{
	int64_t y, start, end, next_year;
	int m, d;
	bool dst;

	if (!r->has_dst) {
		*next = INT64_MAX;
		return r->std_offset;
	}
	se_civil_from_days(floor_div(t + r->std_offset, SECS_PER_DAY), &y, &m, &d);
	rule_year(r, y, &start, &end);
	if (start < end)
		dst = t >= start && t < end;
	else /* southern hemisphere: DST spans the new year */
		dst = !(t >= end && t < start);
	next_year = se_days_from_civil(y + 1, 1, 1) * SECS_PER_DAY - r->std_offset;
	*next = next_year;
	if (start > t && start < *next)
		*next = start;
	if (end > t && end < *next)
		*next = end;
	return dst ? r->dst_offset : r->std_offset;
}

/* ---- zones ------------------------------------------------------------- */

struct se_tz {
	char *name;
	int32_t initial_offset; /* before the first transition (TZif type 0) */
	size_t count;           /* transitions that change the offset */
	int64_t *at;            /* their UTC instants, strictly ascending */
	int32_t *offset;        /* offset from at[i] on */
	bool has_rule;          /* the footer rule governs t >= rule_from */
	int64_t rule_from;
	struct tz_rule rule;
	int32_t min_offset;     /* bounds of every offset, so local_to_utc */
	int32_t max_offset;     /* knows which instants can match a wall time */
};

/* The offset in force at t and the first instant after t where it may
 * change (INT64_MAX when it never does). */
static int32_t tz_segment_at(const se_tz *tz, int64_t t, int64_t *next)
{
	size_t lo, hi;

	if (tz->has_rule && t >= tz->rule_from)
		return rule_offset_at(&tz->rule, t, next);
	if (tz->count == 0 || t < tz->at[0]) {
		*next = tz->count > 0 ? tz->at[0] : tz->has_rule ? tz->rule_from : INT64_MAX;
		return tz->initial_offset;
	}
	lo = 0; /* invariant: at[lo] <= t < at[hi] */
	hi = tz->count;
	while (hi - lo > 1) {
		const size_t mid = lo + (hi - lo) / 2;

		if (tz->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	if (hi < tz->count)
		*next = tz->at[hi];
	else
		*next = tz->has_rule ? tz->rule_from : INT64_MAX;
	return tz->offset[lo];
}

int32_t se_tz_offset_at(const se_tz *tz, int64_t t)
{
	int64_t next;

	return tz == NULL ? 0 : tz_segment_at(tz, t, &next);
}

int64_t se_tz_utc_to_local(const se_tz *tz, int64_t t)
{
	return t + se_tz_offset_at(tz, t);
}

/* Every solution u of u + offset(u) == local lies in [local - max_offset,
 * local - min_offset].  Walking the offset segments of that window in time
 * order, the first segment that contains its own candidate is the earliest
 * solution (the header's overlap rule); a candidate that falls before its
 * segment while the previous one fell after means local is in a gap, and
 * the previous offset is the one "before the gap". */
int64_t se_tz_local_to_utc(const se_tz *tz, int64_t local)
{
	int64_t t, next, candidate;
	int32_t offset, previous = 0;
	bool first = true;

	if (tz == NULL)
		return local;
	t = local - tz->max_offset;
	for (;;) {
		offset = tz_segment_at(tz, t, &next);
		candidate = local - offset;
		if (!first && candidate < t)
			return local - previous;
		if (candidate < next)
			return candidate;
		/* candidate >= next, so the walk ends before t passes
		 * local - min_offset: there candidate < t must hold. */
		previous = offset;
		first = false;
		t = next;
	}
}

static bool is_utc_name(const char *name)
{
	static const char *const names[] = { "UTC", "Z", "GMT", "Etc/UTC", "UTC0" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Refuses anything that could escape the tz directory or that no IANA name
 * looks like, before the file system is asked. */
static bool is_plausible_zone_name(const char *name)
{
	const size_t len = strlen(name);

	if (len == 0 || len > 255 || name[0] == '/' || strstr(name, "..") != NULL)
		return false;
	for (size_t i = 0; i < len; i++) {
		const char c = name[i];

		if (!is_alpha(c) && !is_digit(c) && c != '/' && c != '_' && c != '-' &&
		    c != '+' && c != '.')
			return false;
	}
	return true;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

/* The 44-byte header: magic, version, 15 reserved bytes, six counts. */
static bool tzif_header(const unsigned char *p, size_t avail, int *version,
                        struct tzif_counts *c)
{
	if (avail < 44 || memcmp(p, "TZif", 4) != 0)
		return false;
	*version = p[4];
	c->isutcnt = be32(p + 20);
	c->isstdcnt = be32(p + 24);
	c->leapcnt = be32(p + 28);
	c->timecnt = be32(p + 32);
	c->typecnt = be32(p + 36);
	c->charcnt = be32(p + 40);
	return c->typecnt >= 1 && c->typecnt <= 256 &&
	       (c->isutcnt == 0 || c->isutcnt == c->typecnt) &&
	       (c->isstdcnt == 0 || c->isstdcnt == c->typecnt);
}

static uint64_t tzif_block_size(const struct tzif_counts *c, unsigned time_size)
{
	return (uint64_t)c->timecnt * (time_size + 1) + (uint64_t)c->typecnt * 6 +
	       c->charcnt + (uint64_t)c->leapcnt * (time_size + 4) + c->isstdcnt + c->isutcnt;
}

/* Keeps only instants where the offset really changes: lookups care about
 * offsets, not about abbreviations or the isdst flag. */
static void tz_append(se_tz *tz, int64_t at, int32_t offset)
{
	const int32_t before = tz->count > 0 ? tz->offset[tz->count - 1] : tz->initial_offset;

	if (offset == before)
		return;
	tz->at[tz->count] = at;
	tz->offset[tz->count] = offset;
	tz->count++;
}

/* Fills the transitions from one data block (32- or 64-bit times).  Returns
 * 0, SE_ENOMEM, or SE_ERR when the block is malformed. */
static int tz_load_block(se_tz *tz, const unsigned char *p, const struct tzif_counts *c,
                         unsigned time_size)
{
	const unsigned char *times = p;
	const unsigned char *type_of = times + (size_t)c->timecnt * time_size;
	const unsigned char *types = type_of + c->timecnt;
	int64_t previous = INT64_MIN;

	for (uint32_t i = 0; i < c->typecnt; i++) {
		const int32_t utoff = (int32_t)be32(types + 6 * i);

		/* RFC 8536 bounds; beyond them the arithmetic is not ours to trust */
		if (utoff < -89999 || utoff > 93599 || types[6 * i + 4] > 1)
			return SE_ERR;
	}
	tz->initial_offset = (int32_t)be32(types);
	if (c->timecnt == 0)
		return 0;
	tz->at = malloc(c->timecnt * sizeof *tz->at);
	tz->offset = malloc(c->timecnt * sizeof *tz->offset);
	if (tz->at == NULL || tz->offset == NULL)
		return SE_ENOMEM;
	for (uint32_t i = 0; i < c->timecnt; i++) {
		const int64_t at = time_size == 8 ? be64(times + 8 * (size_t)i)
		                                   : (int32_t)be32(times + 4 * (size_t)i);

		if ((i > 0 && at <= previous) || type_of[i] >= c->typecnt)
			return SE_ERR;
		tz_append(tz, at, (int32_t)be32(types + 6 * type_of[i]));
		previous = at;
	}
	tz->rule_from = previous;
	return 0;
}

/* Parses a whole TZif file: the version 1 block, or for version 2+ the
 * 64-bit block after it and the footer rule.  0, SE_ENOMEM or SE_ERR. */
static int tz_load_tzif(se_tz *tz, const unsigned char *data, size_t len)
{
	struct tzif_counts c;
	int version, rc;
	size_t pos;
	unsigned time_size = 4;
	uint64_t size;

	if (!tzif_header(data, len, &version, &c))
		return SE_ERR;
	pos = 44;
	size = tzif_block_size(&c, 4);
	if (size > len - pos)
		return SE_ERR;
	if (version >= '2') {
		/* the 32-bit block only serves old readers */
		pos += (size_t)size;
		if (!tzif_header(data + pos, len - pos, &version, &c))
			return SE_ERR;
		pos += 44;
		time_size = 8;
		size = tzif_block_size(&c, 8);
		if (size > len - pos)
			return SE_ERR;
	}
	tz->rule_from = INT64_MIN;
	rc = tz_load_block(tz, data + pos, &c, time_size);
	if (rc != 0 || time_size == 4)
		return rc;
	pos += (size_t)size;
	if (pos < len && data[pos] == '\n') {
		const unsigned char *rule = data + pos + 1;
		const unsigned char *nl = memchr(rule, '\n', len - pos - 1);

		if (nl == NULL)
			return SE_ERR;
		if (nl > rule) {
			if (!rule_parse((const char *)rule, (size_t)(nl - rule), &tz->rule))
				return SE_ERR;
			tz->has_rule = true;
		}
	}
	return 0;
}

static void tz_set_offset_bounds(se_tz *tz)
{
	tz->min_offset = tz->max_offset = tz->initial_offset;
	for (size_t i = 0; i < tz->count; i++) {
		if (tz->offset[i] < tz->min_offset)
			tz->min_offset = tz->offset[i];
		if (tz->offset[i] > tz->max_offset)
			tz->max_offset = tz->offset[i];
	}
	if (tz->has_rule) {
		const int32_t a = tz->rule.std_offset, b = tz->rule.dst_offset;

		if (a < tz->min_offset)
			tz->min_offset = a;
		if (b < tz->min_offset)
			tz->min_offset = b;
		if (a > tz->max_offset)
			tz->max_offset = a;
		if (b > tz->max_offset)
			tz->max_offset = b;
	}
}

/* Reads $TZDIR/name (else the system directory).  Anything that is not a
 * regular file starting with "TZif" is an unknown zone, not a broken one. */
static int tz_open_file(se_tz *tz, const char *name, se_error *err)
{
	const char *dir = getenv("TZDIR");
	char path[TZ_PATH_MAX];
	unsigned char *data = NULL;
	FILE *f = NULL;
	struct stat st;
	size_t len;
	int n, rc;

	if (!is_plausible_zone_name(name))
		return se_error_set(err, SE_EUSAGE, "unknown time zone '%s'", name);
	if (dir == NULL || dir[0] == '\0')
		dir = TZ_DEFAULT_DIR;
	n = snprintf(path, sizeof path, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof path)
		return se_error_set(err, SE_EUSAGE, "unknown time zone '%s'", name);
	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 4) {
		rc = se_error_set(err, SE_EUSAGE, "unknown time zone '%s'", name);
		goto out;
	}
	if ((uint64_t)st.st_size > TZIF_MAX_BYTES) {
		rc = se_error_set(err, SE_EUSAGE, "time zone '%s': %s is not a TZif file", name, path);
		goto out;
	}
	len = (size_t)st.st_size;
	data = malloc(len);
	if (data == NULL) {
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
		goto out;
	}
	if (fread(data, 1, len, f) != len) {
		rc = se_error_set(err, SE_EIO, "time zone '%s': cannot read %s: %s", name, path,
		                  ferror(f) ? strerror(errno) : "file changed while reading");
		goto out;
	}
	if (memcmp(data, "TZif", 4) != 0) {
		rc = se_error_set(err, SE_EUSAGE, "unknown time zone '%s'", name);
		goto out;
	}
	rc = tz_load_tzif(tz, data, len);
	if (rc == SE_ENOMEM)
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
	else if (rc != 0)
		rc = se_error_set(err, SE_EUSAGE, "time zone '%s': %s is not a valid TZif file",
		                  name, path);
out:
	free(data);
	if (f != NULL)
		fclose(f);
	return rc;
}

int se_tz_open(se_tz **out, const char *name, se_error *err)
{
	se_tz *tz = NULL;
	int32_t fixed;
	int rc = 0;

	*out = NULL;
	if (name == NULL)
		name = "";
	tz = calloc(1, sizeof *tz);
	if (tz == NULL || (tz->name = strdup(name)) == NULL) {
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
		goto out;
	}
	/* Fixed zones are a table with no transitions and no rule. */
	if (is_utc_name(name))
		tz->initial_offset = 0;
	else if (parse_utc_offset(name, strlen(name), &fixed))
		tz->initial_offset = fixed;
	else
		rc = tz_open_file(tz, name, err);
	if (rc != 0)
		goto out;
	tz_set_offset_bounds(tz);
	*out = tz;
	tz = NULL;
out:
	se_tz_free(tz);
	return rc;
}

void se_tz_free(se_tz *tz)
{
	if (tz == NULL)
		return;
	free(tz->name);
	free(tz->at);
	free(tz->offset);
	free(tz);
}

const char *se_tz_name(const se_tz *tz)
{
	return tz == NULL ? "UTC" : tz->name;
}

/* ---- parsing timestamps ---------------------------------------------------- */

static const char WHY_EMPTY[] = "empty time";
static const char WHY_FORMAT[] = "unrecognised time format";
static const char WHY_MONTH[] = "month out of range";
static const char WHY_DAY[] = "day out of range for month";
static const char WHY_HOUR[] = "hour out of range";
static const char WHY_MINUTE[] = "minute out of range";
static const char WHY_SECOND[] = "second out of range";
static const char WHY_OFFSET[] = "bad time zone offset";
static const char WHY_YEAR[] = "year out of range";

/* What a timestamp spelled, before any range check. */
struct stamp {
	int year, month, day, hour, minute, second;
	bool has_offset;
	int32_t offset;
};

/* "HH:MM", then ":SS" and, when allowed, a fraction of 1-9 digits (dropped).
 * Returns the position after it, or NULL when the shape is wrong. */
static const char *scan_clock(const char *p, const char *end, bool allow_fraction,
                              struct stamp *st)
{
	if (end - p < 5 || p[2] != ':')
		return NULL;
	st->hour = two_digits(p);
	st->minute = two_digits(p + 3);
	if (st->hour < 0 || st->minute < 0)
		return NULL;
	p += 5;
	if (end - p >= 3 && p[0] == ':') {
		st->second = two_digits(p + 1);
		if (st->second < 0)
			return NULL;
		p += 3;
		if (allow_fraction && p < end && (*p == '.' || *p == ',')) {
			const char *digits = ++p;

			while (p < end && is_digit(*p))
				p++;
			if (p == digits || p - digits > 9)
				return NULL;
		}
	}
	return p;
}

/* YYYY-MM-DD[(T| )HH:MM[:SS[.frac]][Z|±offset]]; the caller saw the dashes. */
static const char *scan_iso(const char *p, const char *end, struct stamp *st)
{
	st->year = four_digits(p);
	st->month = two_digits(p + 5);
	st->day = two_digits(p + 8);
	if (st->year < 0 || st->month < 0 || st->day < 0)
		return WHY_FORMAT;
	p += 10;
	if (p == end)
		return NULL;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return WHY_FORMAT;
	p = scan_clock(p + 1, end, true, st);
	if (p == NULL)
		return WHY_FORMAT;
	if (p == end)
		return NULL;
	if ((*p == 'Z' || *p == 'z') && p + 1 == end) {
		st->has_offset = true;
		return NULL;
	}
	if (*p == '+' || *p == '-') {
		if (!parse_utc_offset(p, (size_t)(end - p), &st->offset))
			return WHY_OFFSET;
		st->has_offset = true;
		return NULL;
	}
	return WHY_FORMAT;
}

/* DD.MM.YYYY[ HH:MM[:SS]]; the caller saw the dots. */
static const char *scan_dotted(const char *p, const char *end, struct stamp *st)
{
	st->day = two_digits(p);
	st->month = two_digits(p + 3);
	st->year = four_digits(p + 6);
	if (st->year < 0 || st->month < 0 || st->day < 0)
		return WHY_FORMAT;
	p += 10;
	if (p == end)
		return NULL;
	if (*p != ' ')
		return WHY_FORMAT;
	p = scan_clock(p + 1, end, false, st);
	return p == end ? NULL : WHY_FORMAT;
}

/* 1-11 digits of unix seconds.  99999999999 is in year 5138, so no value
 * that fits can leave the 1970-9999 range. */
static const char *scan_unix(const char *p, const char *end, int64_t *out)
{
	int64_t value = 0;

	if (end - p > 11)
		return WHY_FORMAT;
	for (; p < end; p++) {
		if (!is_digit(*p))
			return WHY_FORMAT;
		value = value * 10 + (*p - '0');
	}
	*out = value;
	return NULL;
}

static const char *check_stamp(const struct stamp *st)
{
	if (st->year < 1970 || st->year > 9999)
		return WHY_YEAR;
	if (st->month < 1 || st->month > 12)
		return WHY_MONTH;
	if (st->day < 1 || st->day > se_days_in_month(st->year, st->month))
		return WHY_DAY;
	if (st->hour > 23)
		return WHY_HOUR;
	if (st->minute > 59)
		return WHY_MINUTE;
	if (st->second > 59)
		return WHY_SECOND;
	return NULL;
}

/* The end of every parse: a stamp read without complaint (reason NULL) is
 * checked, then turned into UTC seconds through its own offset, else the
 * zone.  Both the fixed formats and a columns{} layout finish here. */
static int stamp_to_utc(const struct stamp *st, const char *reason, const se_tz *zone, int64_t *out,
                        const char **why)
{
	int64_t local;

	if (reason == NULL)
		reason = check_stamp(st);
	if (reason != NULL) {
		if (why != NULL)
			*why = reason;
		return SE_EINPUT;
	}
	local = se_days_from_civil(st->year, st->month, st->day) * SECS_PER_DAY +
	        st->hour * 3600 + st->minute * 60 + st->second;
	*out = st->has_offset ? local - st->offset : se_tz_local_to_utc(zone, local);
	return 0;
}

int se_time_parse(const char *s, size_t len, const se_tz *zone, int64_t *out, const char **why)
{
	const char *p = s, *end = s == NULL ? s : s + len;
	struct stamp st = { 0 };
	const char *reason;
	int64_t local;

	while (p < end && *p == ' ')
		p++;
	while (end > p && end[-1] == ' ')
		end--;
	if (p == end)
		reason = WHY_EMPTY;
	else if (end - p >= 10 && p[4] == '-' && p[7] == '-')
		reason = scan_iso(p, end, &st);
	else if (end - p >= 10 && p[2] == '.' && p[5] == '.')
		reason = scan_dotted(p, end, &st);
	else if (is_digit(*p)) {
		reason = scan_unix(p, end, &local);
		if (reason == NULL) {
			*out = local;
			return 0;
		}
	} else
		reason = WHY_FORMAT;
	return stamp_to_utc(&st, reason, zone, out, why);
}

/* ---- explicit layouts ------------------------------------------------------ */

enum layout_kind { L_LITERAL, L_YEAR, L_MONTH, L_DAY, L_HOUR, L_MINUTE, L_SECOND };

static const char WHY_LAYOUT_LONG[] = "too long (at most 32 parts)";
static const char WHY_LAYOUT_YEAR[] = "the year is YYYY (four digits)";
static const char WHY_LAYOUT_RUN[] = "MM, DD, HH and SS are one or two letters";
static const char WHY_LAYOUT_TWICE[] = "a part appears twice";
static const char WHY_LAYOUT_DATE[] = "needs YYYY, MM and DD";
static const char WHY_LAYOUT_CLOCK[] = "HH needs minutes (HH:MM), SS needs HH:MM";

static int layout_letter(char c)
{
	switch (c) {
	case 'Y': case 'y': return L_YEAR;
	case 'M': case 'm': return L_MONTH;
	case 'D': case 'd': return L_DAY;
	case 'H': case 'h': return L_HOUR;
	case 'S': case 's': return L_SECOND;
	default: return L_LITERAL;
	}
}

int se_time_layout_compile(const char *layout, se_time_layout *out, const char **why)
{
	int seen[L_SECOND + 1] = { 0 };
	int last_token = L_LITERAL;

	memset(out, 0, sizeof *out);
	for (const char *p = layout; *p;) {
		int kind = layout_letter(*p);
		size_t run = 1;

		if (out->n == SE_TIME_LAYOUT_MAX) {
			*why = WHY_LAYOUT_LONG;
			return SE_EUSAGE;
		}
		if (kind == L_LITERAL) {
			out->kind[out->n] = L_LITERAL;
			out->literal[out->n++] = *p++;
			continue;
		}
		while (p[run] != '\0' && layout_letter(p[run]) == kind)
			run++;
		p += run;
		if ((kind == L_YEAR && run != 4) || (kind != L_YEAR && run > 2)) {
			*why = kind == L_YEAR ? WHY_LAYOUT_YEAR : WHY_LAYOUT_RUN;
			return SE_EUSAGE;
		}
		/* "MM" right after the hour is the minute, as people write it. */
		if (kind == L_MONTH && last_token == L_HOUR)
			kind = L_MINUTE;
		if (seen[kind]++) {
			*why = WHY_LAYOUT_TWICE;
			return SE_EUSAGE;
		}
		out->kind[out->n++] = (unsigned char)kind;
		last_token = kind;
	}
	if (!seen[L_YEAR] || !seen[L_MONTH] || !seen[L_DAY]) {
		*why = WHY_LAYOUT_DATE;
		return SE_EUSAGE;
	}
	if (seen[L_HOUR] != seen[L_MINUTE] || (seen[L_SECOND] && !seen[L_HOUR])) {
		*why = WHY_LAYOUT_CLOCK;
		return SE_EUSAGE;
	}
	return 0;
}

/* One number of a layout: YYYY is four digits; the others one or two, or
 * exactly two when another number follows with no separator between. */
static const char *layout_number(const se_time_layout *lay, int i, const char *p, const char *end,
                                 int *value)
{
	int max = lay->kind[i] == L_YEAR ? 4 : 2;
	int min = lay->kind[i] == L_YEAR || (i + 1 < lay->n && lay->kind[i + 1] != L_LITERAL) ? max : 1;
	int n = 0;

	*value = 0;
	while (n < max && p < end && is_digit(*p)) {
		*value = *value * 10 + (*p++ - '0');
		n++;
	}
	return n >= min ? p : NULL;
}

int se_time_parse_layout(const se_time_layout *lay, const char *s, size_t len, const se_tz *zone,
                         int64_t *out, const char **why)
{
	const char *p = s, *end = s == NULL ? s : s + len;
	struct stamp st = { 0 };
	const char *reason = NULL;

	while (p < end && *p == ' ')
		p++;
	while (end > p && end[-1] == ' ')
		end--;
	if (p == end)
		reason = WHY_EMPTY;
	for (int i = 0; i < lay->n && reason == NULL; i++) {
		int v = 0;

		if (lay->kind[i] == L_LITERAL) {
			if (p == end || *p != lay->literal[i])
				reason = WHY_FORMAT;
			p++;
			continue;
		}
		if ((p = layout_number(lay, i, p, end, &v)) == NULL) {
			reason = WHY_FORMAT;
			break;
		}
		switch (lay->kind[i]) {
		case L_YEAR: st.year = v; break;
		case L_MONTH: st.month = v; break;
		case L_DAY: st.day = v; break;
		case L_HOUR: st.hour = v; break;
		case L_MINUTE: st.minute = v; break;
		default: st.second = v; break;
		}
	}
	if (reason == NULL && p != end)
		reason = WHY_FORMAT;
	return stamp_to_utc(&st, reason, zone, out, why);
}

/* ---- formatting -------------------------------------------------------- */

struct civil_time {
	int64_t year;
	int month, day, hour, minute, second;
};

static struct civil_time civil_time_of(int64_t t)
{
	struct civil_time c;
	const int64_t days = floor_div(t, SECS_PER_DAY);
	const int secs = (int)(t - days * SECS_PER_DAY);

	se_civil_from_days(days, &c.year, &c.month, &c.day);
	c.hour = secs / 3600;
	c.minute = secs / 60 % 60;
	c.second = secs % 60;
	return c;
}

void se_time_format_utc(int64_t t, char *buf, size_t size)
{
	const struct civil_time c = civil_time_of(t);

	snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)c.year, c.month,
	         c.day, c.hour, c.minute, c.second);
}

void se_time_format_local(int64_t t, const se_tz *zone, char *buf, size_t size)
{
	const struct civil_time c = civil_time_of(se_tz_utc_to_local(zone, t));

	snprintf(buf, size, "%04lld-%02d-%02d %02d:%02d", (long long)c.year, c.month, c.day,
	         c.hour, c.minute);
}
