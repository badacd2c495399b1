/*
 * timeconv.h: civil dates, time zones and timestamp parsing.
 *
 * Owns: turning the timestamp spellings CRMs export into UTC seconds, and
 * UTC seconds back into a team's local calendar (day, ISO week, month).
 * A named zone ("Europe/Moscow") is turned, once, into a table of UTC offset
 * transitions read from the system tz database; after that every conversion
 * is a binary search, independent of the process's TZ variable, so import and
 * reports can use different zones in one process and stay fast per row.
 *
 * Never: depends on the process's local time zone or locale.
 */
#ifndef SE_TIMECONV_H
#define SE_TIMECONV_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (any int year). */
int64_t se_days_from_civil(int64_t y, int m, int d);
void se_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
int se_days_in_month(int64_t y, int m);

/* Opens a zone: "UTC" (also "Z", "GMT", "Etc/UTC"), a fixed offset "+03:00",
 * "+0300", "+03", "-05:30", or an IANA name found under the tz database
 * (TZDIR, else /usr/share/zoneinfo).  Unknown names are an error naming the
 * zone, never a silent fall back to UTC. */
int se_tz_open(se_tz **out, const char *name, se_error *err);
void se_tz_free(se_tz *tz);
const char *se_tz_name(const se_tz *tz);

/* Offset east of UTC, in seconds, in force at the UTC instant t. */
int32_t se_tz_offset_at(const se_tz *tz, int64_t t);
/* UTC instant of a local wall-clock time, given as seconds since 1970-01-01
 * 00:00 of the local calendar.  In a gap (clocks jump forward) the wall time
 * is read with the offset before the gap; in an overlap (clocks go back) the
 * earlier instant is taken. */
int64_t se_tz_local_to_utc(const se_tz *tz, int64_t local);
/* Local wall-clock seconds (same epoch as above) for a UTC instant. */
int64_t se_tz_utc_to_local(const se_tz *tz, int64_t t);

/* Parses one timestamp.  Accepted, with surrounding ASCII spaces ignored:
 *   YYYY-MM-DDTHH:MM[:SS[.frac]](Z|±HH:MM|±HHMM|±HH)   ISO 8601 with a zone
 *   YYYY-MM-DD[T ]HH:MM[:SS[.frac]]                     naive: read in zone
 *   YYYY-MM-DD                                         naive midnight
 *   DD.MM.YYYY[ HH:MM[:SS]]                            naive
 *   an integer of 1 to 11 digits                       unix seconds (UTC)
 * The space form also takes a zone suffix.  Fractions of a second are
 * dropped.  Fields are range-checked (month 1-12, day within the month, hour
 * 0-23, minute 0-59, second 0-59; years 1970-9999).  zone may be NULL (UTC).
 * Returns 0 and sets *out to UTC seconds, or SE_EINPUT with *why pointing to
 * a static reason such as "day out of range for month". */
int se_time_parse(const char *s, size_t len, const se_tz *zone, int64_t *out, const char **why);

/* An explicit time layout, for exports whose times the parser above would
 * read wrongly or not at all ("MM/DD/YYYY", "DD/MM/YYYY HH:MM").  Tokens:
 * YYYY (four digits), MM (month; minutes when it follows HH and a
 * separator), DD, HH, SS (one or two digits each), in any case; every
 * other character must appear as written.  YYYY, MM and DD are required,
 * HH needs minutes, SS needs HH. */
#define SE_TIME_LAYOUT_MAX 32

typedef struct se_time_layout {
	unsigned char kind[SE_TIME_LAYOUT_MAX];
	char literal[SE_TIME_LAYOUT_MAX];
	int n;
} se_time_layout;

/* Compiles a layout; on a bad one returns SE_EUSAGE with *why a static
 * reason naming the problem. */
int se_time_layout_compile(const char *layout, se_time_layout *out, const char **why);
/* Parses s with the layout, surrounding spaces ignored, the wall time read
 * in zone (NULL = UTC); the same range checks and reasons as
 * se_time_parse. */
int se_time_parse_layout(const se_time_layout *lay, const char *s, size_t len, const se_tz *zone,
                         int64_t *out, const char **why);

/* Formats a UTC instant as "YYYY-MM-DDTHH:MM:SSZ" (buf >= 21 bytes). */
void se_time_format_utc(int64_t t, char *buf, size_t size);
/* Formats the local date/time of t in zone: "YYYY-MM-DD HH:MM" (buf >= 17). */
void se_time_format_local(int64_t t, const se_tz *zone, char *buf, size_t size);

#endif
