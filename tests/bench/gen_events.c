/*
 * gen_events.c: writes a synthetic CRM export for the benchmark.
 *
 * Owns: the shape of the benchmark data.  Deals enter the funnel of
 * tests/bench/bench_rules.lua at a random moment of 2024-2025 and random-walk
 * through it (forward, a skipped stage, a step back, lost, non-target, left
 * open, paid), and every status change becomes one row of a canonical events
 * CSV sorted by time, the way CRMs export their history.  The output is a
 * pure function of (--deals, --seed): the generator has its own PRNG and
 * never reads the clock, the locale or rand().
 *
 * The data deliberately carries what the engine must get right without it
 * changing what is counted: quoted fields that need no quotes, a source with
 * a comma and one with a double quote, a status padded with spaces (the
 * engine trims them), alias names of the first stage, reassigned managers,
 * empty manager/source/amount cells, revised amounts, and events of one deal
 * that share a timestamp and whose event_id order differs from the order they
 * were generated (and written) in, so only the (ts, event_id) order of
 * docs/METRICS.md gives the right answer.
 *
 * Never: writes events after 2025-12-31T23:59:59Z.  The benchmark reports
 * "as of" 2026-01-01T00:00:00Z, and a walk that would cross that instant
 * simply stops there (the deal stays where it is), so nothing in the data
 * depends on whether events after --as-of are counted.
 *
 * --narrow writes the same walk as a plain 7-column file instead (deal_id,
 * ts to the minute, stage, manager, source, amount, pipeline): no event_id,
 * no quoting at all, about 76 bytes a row, the shape of a CRM's UI export.
 * It exists to time the import on a second CSV shape; the agreement check
 * reads only the canonical file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DEALS 1000000L
#define DEFAULT_SEED UINT64_C(20240101)

#define DAY 86400L
/* 2024-01-01T00:00:00Z: timestamps are stored as seconds after this. */
#define EPOCH_2024 INT64_C(1704067200)
/* Two years: deals are created in [0, SPAN); no event at or after SPAN. */
#define SPAN (span_days * DAY)
static long span_days = 731;          /* --days */

#define NO_VALUE 0xff /* an empty manager or source cell */

/* ---- the PRNG: splitmix64, one stream for the whole file ---------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n < 2^32 (the bias of the multiply-shift is < 2^-32). */
static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(((rng_next() >> 32) * (uint64_t)n) >> 32);
}

/* True with probability per_mille / 1000. */
static int rng_chance(unsigned per_mille)
{
	return rng_below(1000) < per_mille;
}

/* Index drawn from a table of relative weights. */
static unsigned rng_weighted(const unsigned *weights, unsigned n)
{
	unsigned total = 0, i, r;

	for (i = 0; i < n; i++)
		total += weights[i];
	r = rng_below(total);
	for (i = 0; i + 1 < n && r >= weights[i]; i++)
		r -= weights[i];
	return i;
}

/* ---- the vocabulary ---------------------------------------------------- */

static const char *const managers[] = {
	"Анна Смирнова", "Дмитрий Иванов", "Екатерина Кузнецова", "Сергей Попов",
	"Ольга Соколова", "Алексей Лебедев", "Мария Козлова", "Иван Новиков",
	"Татьяна Морозова", "Андрей Петров", "Наталья Волкова", "Михаил Соловьёв",
	"Елена Васильева", "Павел Зайцев", "Юлия Павлова", "Николай Семёнов",
	"Ирина Голубева", "Владимир Виноградов", "Светлана Богданова",
	"Артём Воробьёв", "Ксения Фёдорова", "Максим Михайлов", "Дарья Беляева",
	"Роман Тарасов", "Алина Белова",
	"John Carter", "Emily Johnson", "Michael Brown", "Sarah Davis",
	"David Wilson", "Jessica Moore", "James Taylor", "Laura Anderson",
	"Robert Thomas", "Emma Jackson", "William White", "Olivia Harris",
	"Daniel Martin", "Sophia Thompson", "Matthew Garcia", "Chloe Martinez",
	"Andrew Robinson", "Grace Clark", "Joseph Rodriguez", "Hannah Lewis",
	"Thomas Lee", "Megan Walker", "Christopher Hall", "Lucy Allen",
	"Benjamin Young",
};
#define ALL_MANAGERS (sizeof managers / sizeof managers[0])
static unsigned n_managers = ALL_MANAGERS; /* --managers: the first N of the list */
#define N_MANAGERS n_managers

static const char *const sources[] = {
	"Яндекс.Директ", "VK Реклама", "Google Ads", "Avito", "Сайт",
	"Instagram", "Рекомендация", "Выставка, Москва", "Партнёр \"Север\"",
	"Telegram", "Холодный звонок", "Email-рассылка", "2ГИС",
	"Яндекс.Карты", "Входящий звонок", "hh.ru", "YouTube",
	"Повторный клиент", "Тендер", "Маркетплейс",
};
#define N_SOURCES (sizeof sources / sizeof sources[0])

static const unsigned source_weights[N_SOURCES] = {
	220, 120, 90, 80, 110, 40, 60, 15, 20, 35, 30, 25, 20, 20, 40, 10,
	10, 30, 10, 15,
};

/* Status names of bench_rules.lua, by the index stored in an event. */
enum {
	ST_NEW, ST_NEW_ALIAS_RU, ST_NEW_ALIAS_EN, ST_QUALIFY, ST_PRESENT,
	ST_OFFER, ST_INVOICE, ST_PAID, ST_LOST, ST_LOST_CLOSED, ST_NONTARGET,
	ST_SPAM, N_STATUSES
};

static const char *const statuses[N_STATUSES] = {
	"Новый лид", "Новая заявка", "New lead", "Квалификация", "Презентация",
	"КП отправлено", "Счёт выставлен", "Оплачено", "Отказ",
	"Закрыто и не реализовано", "Нецелевой", "Спам",
};

/* Ordered stage (0..5) -> status index; stage 0 is written via its aliases
 * only on a deal's first event. */
static const uint8_t stage_status[6] = {
	ST_NEW, ST_QUALIFY, ST_PRESENT, ST_OFFER, ST_INVOICE, ST_PAID,
};
#define STAGE_PAID 5

/* ---- the events -------------------------------------------------------- */

enum event_flags {
	EV_PIPELINE = 1,     /* pipeline "Основная" (else empty) */
	EV_QUOTE_ALL = 2,    /* every field quoted, needed or not */
	EV_QUOTE_SOME = 4,   /* stage and manager quoted */
	EV_PAD_STAGE = 8,    /* stage written as " name " inside quotes */
	EV_SWAPPED = 0x40    /* tie: takes the previous event's id and vice versa */
};

struct event {
	uint32_t ts;      /* seconds after EPOCH_2024 */
	int32_t amount;   /* kopecks; -1 = empty cell */
	uint32_t seq;     /* generation order: the file order of equal ts */
	uint32_t id;      /* event_id number */
	uint32_t deal;    /* deal number, 1-based */
	uint8_t status;
	uint8_t manager;  /* NO_VALUE = empty */
	uint8_t source;   /* NO_VALUE = empty */
	uint8_t flags;    /* enum event_flags; bit 7: amount has kopecks */
};
#define EV_KOPECKS 0x80

static struct event *events;
static size_t n_events, cap_events;

static struct event *event_push(void)
{
	if (n_events == cap_events) {
		size_t cap = cap_events ? cap_events + cap_events / 2 : 1 << 16;
		struct event *p = realloc(events, cap * sizeof *p);

		if (p == NULL)
			return NULL;
		events = p;
		cap_events = cap;
	}
	return &events[n_events++];
}

/* ---- one deal's walk --------------------------------------------------- */

/* A pause between two status changes: minutes to weeks.  No libm: a few
 * uniform ranges of different scale approximate a long-tailed spread. */
static uint32_t gap_seconds(int quick)
{
	unsigned r = rng_below(100);

	if (quick || r < 15)
		return 300 + rng_below(3300);           /* 5 min .. 1 h */
	if (r < 40)
		return 3600 + rng_below(23 * 3600);     /* 1 h .. 1 day */
	if (r < 80)
		return DAY + rng_below(6 * DAY);        /* 1 .. 7 days */
	return 7 * DAY + rng_below(23 * DAY);           /* 1 .. 4 weeks */
}

/* A deal value: mostly whole roubles, some with kopecks. */
static int32_t pick_value(int *kopecks)
{
	int32_t roubles;

	if (rng_chance(600))
		roubles = 5000 + (int32_t)rng_below(95000);     /* small deals */
	else if (rng_chance(800))
		roubles = 100000 + (int32_t)rng_below(400000);
	else
		roubles = 500000 + (int32_t)rng_below(1500000); /* a few big ones */
	*kopecks = rng_chance(350);
	if (!*kopecks)
		return (roubles / 10) * 1000;       /* whole, rounded to 10 roubles */
	return roubles * 100 + (rng_chance(300) ? 50 : (int32_t)rng_below(100));
}

static int32_t revise_value(int32_t v, int kopecks)
{
	/* 70% .. 130% of the old value, keeping its style */
	int64_t nv = (int64_t)v * (70 + rng_below(61)) / 100;

	if (!kopecks)
		nv = nv / 1000 * 1000;
	if (nv < 100000)
		nv = 100000;
	return (int32_t)nv;
}

struct deal {
	uint32_t number;
	uint32_t t;          /* time of the last event */
	int stage;           /* ordered stage of the last stage event */
	uint8_t manager;     /* the responsible now */
	uint8_t source;
	int source_late;     /* the source arrives on the second event */
	int n;               /* events written so far */
	int32_t value;       /* the deal value, once known to the CRM */
	int kopecks;
	int value_known;
};

/* Writes one event of deal d with status st; amount: kopecks or -1. */
static int emit(struct deal *d, unsigned st, int32_t amount)
{
	struct event *e = event_push();
	unsigned r;

	if (e == NULL)
		return -1;
	e->ts = d->t;
	e->seq = (uint32_t)(n_events - 1);
	e->id = e->seq + 1;
	e->deal = d->number;
	e->status = (uint8_t)st;
	e->amount = amount;
	e->flags = (d->kopecks && amount >= 0) ? EV_KOPECKS : 0;
	if (rng_chance(300))
		e->flags |= EV_PIPELINE;
	r = rng_below(1000);
	if (r < 20)
		e->flags |= EV_QUOTE_ALL;
	else if (r < 50)
		e->flags |= EV_QUOTE_SOME;
	if (rng_chance(2))
		e->flags |= EV_PAD_STAGE;

	if (d->n == 0) {
		e->manager = d->manager;
		e->source = d->source_late ? NO_VALUE : d->source;
	} else {
		r = rng_below(1000);
		if (r < 20 && d->manager != NO_VALUE) {
			/* reassigned: the new person is responsible from now on */
			uint8_t m = (uint8_t)rng_below(N_MANAGERS);

			if (m == d->manager)
				m = (uint8_t)((m + 1) % N_MANAGERS);
			d->manager = m;
			e->manager = m;
		} else if (r < 720) {
			e->manager = d->manager;
		} else {
			e->manager = NO_VALUE;
		}
		if (d->n == 1 && d->source_late)
			e->source = d->source;
		else if (rng_chance(80))
			e->source = d->source;
		else if (rng_chance(5))  /* a later, different source: must not win */
			e->source = (uint8_t)rng_below(N_SOURCES);
		else
			e->source = NO_VALUE;
	}

	/* Equal timestamps: on about 0.5% of a deal's later events.  Swapping
	 * ids with the previous event makes the event_id order (the order that
	 * counts) differ from the generation and file order. */
	if (d->n > 0 && e->ts == e[-1].ts && e[-1].deal == e->deal &&
	    rng_chance(700))
		e->flags |= EV_SWAPPED;
	d->n++;
	return 0;
}

/* The amount cell for an event at ordered stage s (first arrival or not). */
static int32_t amount_for_stage(struct deal *d, int s, int first_time)
{
	if (s == 3 && first_time) {
		if (!d->value_known) {
			if (!rng_chance(850))
				return -1;
			d->value_known = 1;
			return d->value;
		}
		if (rng_chance(250))
			d->value = revise_value(d->value, d->kopecks);
		return rng_chance(600) ? d->value : -1;
	}
	if (s == 4 && rng_chance(300)) {
		if (!d->value_known) {
			d->value_known = 1;
			return d->value;
		}
		if (rng_chance(500))
			d->value = revise_value(d->value, d->kopecks);
		return d->value;
	}
	if (s == STAGE_PAID && rng_chance(450)) {
		d->value_known = 1;
		return d->value;
	}
	if (d->value_known && rng_chance(40))
		return d->value;
	return -1;
}

/* Advances the clock; 0 when the walk has to stop at the end of 2025. */
static int tick(struct deal *d, int quick)
{
	uint32_t gap = rng_chance(5) ? 0 : gap_seconds(quick);

	if ((uint64_t)d->t + gap >= (uint64_t)SPAN)
		return 0;
	d->t += gap;
	return 1;
}

static int walk_deal(uint32_t number)
{
	struct deal d;
	int32_t amount;
	unsigned st, r, reached = 0; /* bit s: stage s was entered */

	memset(&d, 0, sizeof d);
	d.number = number;
	d.t = (uint32_t)((rng_next() >> 11) % (uint64_t)SPAN);
	d.manager = rng_chance(3) ? NO_VALUE : (uint8_t)rng_below(N_MANAGERS);
	d.source = rng_chance(15) ? NO_VALUE
		: (uint8_t)rng_weighted(source_weights, N_SOURCES);
	d.source_late = d.source != NO_VALUE && rng_chance(20);
	d.value = pick_value(&d.kopecks);

	/* Created as a lead, under one of the first stage's names. */
	r = rng_below(100);
	st = r < 90 ? ST_NEW : r < 96 ? ST_NEW_ALIAS_RU : ST_NEW_ALIAS_EN;
	amount = -1;
	if (rng_chance(250)) {
		d.value_known = 1;
		amount = d.value;
	}
	if (emit(&d, st, amount) < 0)
		return -1;
	d.stage = 0;
	reached = 1;

	for (;;) {
		int next;

		r = rng_below(1000);
		if (d.stage == 0) {
			if (r < 120) {
				/* non-target, usually right after entering */
				if (!tick(&d, 1))
					return 0;
				if (emit(&d, rng_chance(700) ? ST_NONTARGET : ST_SPAM, -1) < 0)
					return -1;
				goto closed;
			}
			if (r < 200)
				goto lost;
			if (r < 330)
				return 0;                     /* stays a fresh lead */
			next = r < 390 ? 2 : 1;               /* skip or step */
		} else {
			/* at a later stage: waiting deals pile up in pre-sale */
			unsigned open = d.stage >= 3 ? 220 : 150;

			if (r < open)
				return 0;
			if (r < open + 180)
				goto lost;
			if (r < open + 190) {
				if (!tick(&d, 0))
					return 0;
				if (emit(&d, ST_NONTARGET, -1) < 0)
					return -1;
				goto closed;
			}
			if (r < open + 240)
				next = d.stage - 1;           /* back one stage */
			else if (r < open + 310 && d.stage + 2 <= STAGE_PAID)
				next = d.stage + 2;           /* skip one */
			else
				next = d.stage + 1;
		}
		if (!tick(&d, 0))
			return 0;
		amount = amount_for_stage(&d, next, !(reached & (1u << next)));
		reached |= 1u << next;
		if (emit(&d, stage_status[next], amount) < 0)
			return -1;
		d.stage = next;
		if (next == STAGE_PAID)
			return 0;
		continue;

lost:
		if (!tick(&d, 0))
			return 0;
		if (emit(&d, rng_chance(600) ? ST_LOST : ST_LOST_CLOSED, -1) < 0)
			return -1;
closed:
		/* Now and then a closed deal is brought back (open again). */
		if (!rng_chance(40))
			return 0;
		if (!tick(&d, 0))
			return 0;
		if (emit(&d, stage_status[d.stage], -1) < 0)
			return -1;
	}
}

/* ---- output ------------------------------------------------------------ */

static int cmp_event(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct out {
	FILE *fp;
	char buf[1 << 16];
	size_t len;
	int failed;
};

static void out_flush(struct out *o)
{
	if (o->len > 0 && fwrite(o->buf, 1, o->len, o->fp) != o->len)
		o->failed = 1;
	o->len = 0;
}

static void out_bytes(struct out *o, const char *s, size_t n)
{
	if (o->len + n > sizeof o->buf)
		out_flush(o);
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* One CSV field (never longer than a few hundred bytes), quoted when it
 * must be (RFC 4180) or when force says so. */
static void out_field(struct out *o, const char *s, int force, int last)
{
	char tmp[512];
	size_t n = 0;
	int quote = force || strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		tmp[n++] = '"';
	for (; *s != '\0' && n < sizeof tmp - 4; s++) {
		if (*s == '"' && quote)
			tmp[n++] = '"';
		tmp[n++] = *s;
	}
	if (quote)
		tmp[n++] = '"';
	tmp[n++] = last ? '\n' : ',';
	out_bytes(o, tmp, n);
}

/* The amount as the exports write it: empty when none, kopecks only when
 * the event has them. */
static void format_amount(char *field, size_t size, const struct event *e)
{
	if (e->amount < 0)
		field[0] = '\0';
	else if (e->flags & EV_KOPECKS)
		snprintf(field, size, "%" PRId32 ".%02" PRId32, e->amount / 100, e->amount % 100);
	else
		snprintf(field, size, "%" PRId32, e->amount / 100);
}

/* Days since 1970-01-01 -> civil date (H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, yoe, doy, mp, yy;
	int64_t doe;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yy + (*m <= 2));
}

static int digits(uint64_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static void write_event(struct out *o, const struct event *e, int id_width,
                        int deal_width)
{
	char field[128];
	int64_t t = EPOCH_2024 + (int64_t)e->ts;
	int64_t sec = t % DAY;
	int y, mo, d;
	int all = (e->flags & EV_QUOTE_ALL) != 0;
	int some = all || (e->flags & EV_QUOTE_SOME) != 0;

	snprintf(field, sizeof field, "ev%0*" PRIu32, id_width, e->id);
	out_field(o, field, all, 0);
	snprintf(field, sizeof field, "D%0*" PRIu32, deal_width, e->deal);
	out_field(o, field, all, 0);
	civil_from_days(t / DAY, &y, &mo, &d);
	snprintf(field, sizeof field, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d,
	         (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
	out_field(o, field, all, 0);
	if (e->flags & EV_PAD_STAGE) {
		snprintf(field, sizeof field, " %s ", statuses[e->status]);
		out_field(o, field, 1, 0);
	} else {
		out_field(o, statuses[e->status], some, 0);
	}
	out_field(o, e->manager == NO_VALUE ? "" : managers[e->manager], some, 0);
	out_field(o, e->source == NO_VALUE ? "" : sources[e->source], all, 0);
	format_amount(field, sizeof field, e);
	out_field(o, field, all, 0);
	out_field(o, (e->flags & EV_PIPELINE) ? "Основная" : "", all, 1);
}

/* One unquoted field of the narrow file: the characters that would need
 * quotes (',' and '"', in two source names) are left out. */
static void out_plain(struct out *o, const char *s, int last)
{
	char tmp[512];
	size_t n = 0;

	for (; *s != '\0' && n < sizeof tmp - 2; s++)
		if (*s != ',' && *s != '"')
			tmp[n++] = *s;
	tmp[n++] = last ? '\n' : ',';
	out_bytes(o, tmp, n);
}

/* The narrow row: no event_id, the time to the minute ("YYYY-MM-DD HH:MM",
 * UTC), the stage unpadded, nothing quoted. */
static void write_narrow(struct out *o, const struct event *e, int deal_width)
{
	char field[128];
	int64_t t = EPOCH_2024 + (int64_t)e->ts;
	int64_t sec = t % DAY;
	int y, mo, d;

	snprintf(field, sizeof field, "D%0*" PRIu32, deal_width, e->deal);
	out_plain(o, field, 0);
	civil_from_days(t / DAY, &y, &mo, &d);
	snprintf(field, sizeof field, "%04d-%02d-%02d %02d:%02d", y, mo, d,
	         (int)(sec / 3600), (int)(sec / 60 % 60));
	out_plain(o, field, 0);
	out_plain(o, statuses[e->status], 0);
	out_plain(o, e->manager == NO_VALUE ? "" : managers[e->manager], 0);
	out_plain(o, e->source == NO_VALUE ? "" : sources[e->source], 0);
	format_amount(field, sizeof field, e);
	out_plain(o, field, 0);
	out_plain(o, (e->flags & EV_PIPELINE) ? "Основная" : "", 1);
}

/* ---- main -------------------------------------------------------------- */

/* CRMs number events and deals as they are created (auto-increment), so
 * ids grow with time: event ids follow the file (time) order, deal ids the
 * order of each deal's first event.  The ties marked EV_SWAPPED then trade
 * ids with the event before them (same deal, same second, adjacent after
 * the sort), so for those the event_id order differs from the file order. */
static int number_like_a_crm(uint64_t deals)
{
	uint32_t *renumber = calloc(deals + 1, sizeof *renumber);
	uint32_t next_deal = 1;

	if (renumber == NULL)
		return -1;
	for (size_t k = 0; k < n_events; k++) {
		struct event *e = &events[k];

		e->id = (uint32_t)k + 1;
		if (renumber[e->deal] == 0)
			renumber[e->deal] = next_deal++;
		e->deal = renumber[e->deal];
		if ((e->flags & EV_SWAPPED) && k > 0 && e[-1].deal == e->deal && e[-1].ts == e->ts) {
			uint32_t id = e->id;

			e->id = e[-1].id;
			e[-1].id = id;
		}
	}
	free(renumber);
	return 0;
}

static void usage(FILE *fp)
{
	fprintf(fp,
	        "usage: gen_events [--deals N] [--seed S] [--managers N] [--days N] [--narrow]\n"
	        "                  [--out FILE]\n"
	        "Writes a synthetic events CSV (sorted by time) for the funnel of\n"
	        "tests/bench/bench_rules.lua, starting 2024-01-01.  Defaults: %ld deals,\n"
	        "seed %" PRIu64 ", 50 managers, 731 days, stdout.\n"
	        "--narrow: the same events as 7 unquoted columns (deal_id, ts to the\n"
	        "minute, stage, manager, source, amount, pipeline), no event_id.\n", DEFAULT_DEALS, DEFAULT_SEED);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t deals = (uint64_t)DEFAULT_DEALS, seed = DEFAULT_SEED, value = 0;
	const char *path = NULL;
	static struct out o;
	static const char header[] =
		"event_id,deal_id,ts,stage,manager,source,amount,pipeline\n";
	static const char narrow_header[] =
		"deal_id,ts,stage,manager,source,amount,pipeline\n";
	int narrow = 0;
	int i, id_width, deal_width, rc = 1;
	size_t k;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--narrow") == 0) {
			narrow = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "gen_events: %s: missing value\n", a);
			usage(stderr);
			return 2;
		}
		if (strcmp(a, "--deals") == 0) {
			if (parse_u64(argv[++i], &deals) < 0 || deals == 0 ||
			    deals > 50000000) {
				fprintf(stderr, "gen_events: --deals: expected 1..50000000, got '%s'\n",
				        argv[i]);
				return 2;
			}
		} else if (strcmp(a, "--seed") == 0) {
			if (parse_u64(argv[++i], &seed) < 0) {
				fprintf(stderr, "gen_events: --seed: expected an unsigned integer, got '%s'\n",
				        argv[i]);
				return 2;
			}
		} else if (strcmp(a, "--managers") == 0) {
			if (parse_u64(argv[++i], &value) < 0 || value < 2 || value > ALL_MANAGERS) {
				fprintf(stderr, "gen_events: --managers: expected 2..%zu, got '%s'\n",
				        ALL_MANAGERS, argv[i]);
				return 2;
			}
			n_managers = (unsigned)value;
		} else if (strcmp(a, "--days") == 0) {
			if (parse_u64(argv[++i], &value) < 0 || value < 7 || value > 3650) {
				fprintf(stderr, "gen_events: --days: expected 7..3650, got '%s'\n", argv[i]);
				return 2;
			}
			span_days = (long)value;
		} else if (strcmp(a, "--out") == 0) {
			path = argv[++i];
		} else {
			fprintf(stderr, "gen_events: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}

	rng_state = seed;
	for (k = 1; k <= deals; k++) {
		if (walk_deal((uint32_t)k) < 0) {
			fprintf(stderr, "gen_events: out of memory after %zu events\n", n_events);
			goto out;
		}
	}
	qsort(events, n_events, sizeof *events, cmp_event);
	if (number_like_a_crm(deals) < 0) {
		fprintf(stderr, "gen_events: out of memory numbering deals\n");
		goto out;
	}

	id_width = digits(n_events) > 8 ? digits(n_events) : 8;
	deal_width = digits(deals) > 7 ? digits(deals) : 7;
	o.fp = path ? fopen(path, "wb") : stdout;
	if (o.fp == NULL) {
		fprintf(stderr, "gen_events: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (narrow) {
		out_bytes(&o, narrow_header, sizeof narrow_header - 1);
		for (k = 0; k < n_events; k++)
			write_narrow(&o, &events[k], deal_width);
	} else {
		out_bytes(&o, header, sizeof header - 1);
		for (k = 0; k < n_events; k++)
			write_event(&o, &events[k], id_width, deal_width);
	}
	out_flush(&o);
	if (fflush(o.fp) != 0 || ferror(o.fp))
		o.failed = 1;
	if ((path ? fclose(o.fp) : 0) != 0)
		o.failed = 1;
	if (o.failed) {
		fprintf(stderr, "gen_events: %s: write failed: %s\n",
		        path ? path : "stdout", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(events);
	return rc;
}
