/*
 * test_count.c: the counting core (docs/METRICS.md sections 1-3) on
 * hand-made deal histories, and the history packer that feeds it.
 *
 * Rules come from real scripts (written to a temp file and loaded), so each
 * test reads as "this funnel, these events, this is where the deal stands".
 * Status ids are fixed by status_names[] below, the way se_store_names()
 * would hand them out; events are given already in (ts, event_id) order, as
 * the history cache stores them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "count.h"
#include "history.h"
#include "rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY 86400
#define T0 INT64_C(1735689600) /* 2025-01-01T00:00:00Z */

/* Status ids as a store would number them; [0] is "none". */
enum {
	S_NONE,
	S_LEAD,
	S_QUAL,
	S_OFFER,
	S_INVOICE,
	S_PAID,
	S_LOST,
	S_SPAM,
	S_NEW_LEAD,   /* alias of Lead */
	S_ZAYAVKA,    /* alias of Lead, non-ASCII */
	S_CLOSED_LOST,
	S_DRAFT,      /* no funnel knows it */
	S_TICKET,     /* the support funnel's */
	S_SOLVED,
	S_DELIVERED,
	N_STATUS
};

static char *status_names[N_STATUS] = {
	NULL, "Lead", "Qual", "Offer", "Invoice", "Paid", "Lost", "Spam", "New lead",
	"Заявка", "Closed lost", "Draft", "Ticket", "Solved", "Delivered",
};

enum { P_NONE, P_B2B, P_RETAIL, N_PIPELINE };

static char *pipeline_names[N_PIPELINE] = { NULL, "B2B", "Retail" };

/* Five stages, two lost names, one non-target, and two extra pairs. */
static const char sales_script[] =
	"funnel {\n"
	"  name = 'sales',\n"
	"  stages = {\n"
	"    { 'Lead', aliases = { 'New lead', 'Заявка' } },\n"
	"    'Qual',\n"
	"    { 'Offer', presale = true },\n"
	"    'Invoice',\n"
	"    'Paid',\n"
	"  },\n"
	"  lost = { 'Lost', 'Closed lost' },\n"
	"  nontarget = 'Spam',\n"
	"  pairs = {\n"
	"    { 'Lead', 'Invoice' },\n"
	"    { 'Qual', 'Paid', mode = 'touched', window = '7d' },\n"
	"  },\n"
	"}\n";

enum { LEAD, QUAL, OFFER, INVOICE, PAID }; /* stage indexes of sales_script */

#define MAX_EVENTS 32

typedef struct fixture {
	se_script *script;
	const se_rules *rules;
	se_count_ctx ctx;
	int have_ctx;
	se_deal_eval e;
	se_chunk_event ev[MAX_EVENTS];
	se_chunk_deal deal;
	int64_t scratch[MAX_EVENTS];
	se_history_builder *builder;
	se_error err;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	return 0;
}

static void unload(fixture *f)
{
	if (f->have_ctx)
		se_count_ctx_free(&f->ctx);
	f->have_ctx = 0;
	se_script_free(f->script);
	f->script = NULL;
	f->rules = NULL;
}

static int teardown(void **state)
{
	fixture *f = *state;

	unload(f);
	se_history_builder_free(f->builder);
	free(f);
	return 0;
}

/* Loads a script from text through a temp file, then resolves the status
 * and pipeline names against it. */
static void load(fixture *f, const char *lua)
{
	char path[] = "/tmp/test_count_XXXXXX.lua";
	int fd = mkstemps(path, 4);
	size_t len = strlen(lua);
	int rc;

	unload(f);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, lua, len), (ssize_t)len);
	close(fd);
	rc = se_script_load(&f->script, path, NULL, &f->err);
	unlink(path);
	if (rc != SE_OK)
		fail_msg("script did not load: %s", f->err.msg);
	f->rules = (const se_rules *)se_script_rules(f->script);
	assert_int_equal(se_count_ctx_init(&f->ctx, f->rules, status_names, N_STATUS, pipeline_names,
	                                   N_PIPELINE, &f->err),
	                 SE_OK);
	f->have_ctx = 1;
}

static void evaluate(fixture *f, const se_chunk_event *ev, size_t n)
{
	assert_true(n <= MAX_EVENTS);
	memcpy(f->ev, ev, n * sizeof *ev);
	memset(&f->deal, 0, sizeof f->deal);
	f->deal.deal = 1;
	f->deal.n_events = (uint32_t)n;
	f->deal.amount = NAN;
	memset(&f->e, 0x55, sizeof f->e); /* nothing may be left unset */
	se_count_deal(&f->ctx, &f->deal, f->ev, f->scratch, &f->e);
}

/* An event `day` days (plus `sec` seconds) after T0, with no pipeline. */
#define E(day, status) { T0 + (int64_t)(day) * DAY, (status), P_NONE }
#define ES(sec, status) { T0 + (int64_t)(sec), (status), P_NONE }
#define EP(day, status, pipeline) { T0 + (int64_t)(day) * DAY, (status), (pipeline) }

#define EVAL(f, ...)                                                    \
	evaluate((f), (const se_chunk_event[]){ __VA_ARGS__ },              \
	         sizeof((const se_chunk_event[]){ __VA_ARGS__ }) / sizeof(se_chunk_event))

/* Checks touched[] and reached[] of every stage (n = the funnel's stages). */
static void expect_arrivals(const fixture *f, int n, const int32_t *touched, const int32_t *reached)
{
	for (int s = 0; s < n; s++) {
		if (f->e.touched[s] != touched[s])
			fail_msg("touched[%d] is %d, expected %d", s, f->e.touched[s], touched[s]);
		if (f->e.reached[s] != reached[s])
			fail_msg("reached[%d] is %d, expected %d", s, f->e.reached[s], reached[s]);
	}
}

#define TOUCHED(...) ((const int32_t[]){ __VA_ARGS__ })
#define REACHED(...) ((const int32_t[]){ __VA_ARGS__ })
#define N SE_NONE

static void expect_state(const fixture *f, int funnel, int state, int stage)
{
	assert_int_equal(f->e.funnel, funnel);
	assert_int_equal(f->e.state, state);
	assert_int_equal(f->e.stage, stage);
}

/* se_count_pair: expected cohort position and converted position. */
static void expect_pair(const fixture *f, int from, int to, se_mode mode, int64_t window,
                        int32_t cohort, int32_t converted)
{
	int32_t conv = 12345;
	int32_t got = se_count_pair(&f->e, from, to, mode, window, &conv);

	if (got != cohort || conv != converted)
		fail_msg("pair %d->%d (%s, window %lld): cohort %d converted %d, expected %d and %d", from,
		         to, se_mode_name(mode), (long long)window, got, conv, cohort, converted);
}

/* ---- what the script declares ------------------------------------------------ */

static void test_rules_and_status_codes(void **state)
{
	fixture *f = *state;
	const se_funnel *fn;

	load(f, sales_script);
	assert_int_equal(f->rules->n_funnels, 1);
	fn = &f->rules->funnels[0];
	assert_string_equal(fn->name, "sales");
	assert_int_equal(fn->n_stages, 5);
	assert_int_equal(fn->won, PAID); /* the last stage by default */
	assert_false(fn->stages[QUAL].presale);
	assert_true(fn->stages[OFFER].presale);
	/* Adjacent steps first, then the extra pairs in script order. */
	assert_int_equal(fn->n_pairs, 6);
	for (int p = 0; p < 4; p++) {
		assert_int_equal(fn->pairs[p].from, p);
		assert_int_equal(fn->pairs[p].to, p + 1);
		assert_int_equal(fn->pairs[p].mode, SE_MODE_DEFAULT);
		assert_int_equal(fn->pairs[p].window, 0);
		assert_false(fn->pairs[p].extra);
	}
	assert_int_equal(fn->pairs[4].from, LEAD);
	assert_int_equal(fn->pairs[4].to, INVOICE);
	assert_int_equal(fn->pairs[4].mode, SE_MODE_DEFAULT);
	assert_true(fn->pairs[4].extra);
	assert_int_equal(fn->pairs[5].from, QUAL);
	assert_int_equal(fn->pairs[5].to, PAID);
	assert_int_equal(fn->pairs[5].mode, SE_MODE_TOUCHED);
	assert_int_equal(fn->pairs[5].window, 7 * DAY);

	/* Names resolve to (class, stage); the rest to 0. */
	assert_int_equal(f->ctx.n_status, N_STATUS);
	assert_int_equal(f->ctx.codes[S_LEAD], SE_STATUS_CODE(SE_CLASS_STAGE, LEAD));
	assert_int_equal(f->ctx.codes[S_NEW_LEAD], SE_STATUS_CODE(SE_CLASS_STAGE, LEAD));
	assert_int_equal(f->ctx.codes[S_ZAYAVKA], SE_STATUS_CODE(SE_CLASS_STAGE, LEAD));
	assert_int_equal(f->ctx.codes[S_INVOICE], SE_STATUS_CODE(SE_CLASS_STAGE, INVOICE));
	assert_int_equal(SE_STATUS_CLASS(f->ctx.codes[S_LOST]), SE_CLASS_LOST);
	assert_int_equal(SE_STATUS_CLASS(f->ctx.codes[S_CLOSED_LOST]), SE_CLASS_LOST);
	assert_int_equal(SE_STATUS_CLASS(f->ctx.codes[S_SPAM]), SE_CLASS_NONTARGET);
	assert_int_equal(f->ctx.codes[S_NONE], 0);
	assert_int_equal(f->ctx.codes[S_DRAFT], 0);
	assert_int_equal(f->ctx.codes[S_TICKET], 0);
	/* No pipelines listed: every pipeline may resolve. */
	for (int p = 0; p < N_PIPELINE; p++)
		assert_true(f->ctx.pipeline_ok[p]);
}

/* ---- stage arrivals ---------------------------------------------------------- */

static void test_forward_path(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_LEAD), E(1, S_QUAL), E(2, S_OFFER), E(3, S_INVOICE), E(4, S_PAID));
	expect_state(f, 0, SE_DEAL_WON, PAID);
	expect_arrivals(f, 5, TOUCHED(0, 1, 2, 3, 4), REACHED(0, 1, 2, 3, 4));
	assert_ptr_equal(f->e.ev, f->ev);
	assert_int_equal(f->e.n_events, 5);
	assert_ptr_equal(f->e.code, f->scratch);
	for (int i = 0; i < 5; i++)
		assert_int_equal(f->e.code[i], SE_STATUS_CODE(SE_CLASS_STAGE, i));
	for (int s = 0; s < 4; s++) {
		expect_pair(f, s, s + 1, SE_MODE_REACHED, 0, s, s + 1);
		expect_pair(f, s, s + 1, SE_MODE_TOUCHED, 0, s, s + 1);
	}
	expect_pair(f, LEAD, PAID, SE_MODE_REACHED, 0, 0, 4);
	expect_pair(f, LEAD, PAID, SE_MODE_TOUCHED, 0, 0, 4);
	assert_int_equal(se_count_reach(&f->e, QUAL, SE_MODE_TOUCHED), 1);
	assert_int_equal(se_count_reach(&f->e, QUAL, SE_MODE_REACHED), 1);
}

static void test_open_deal_mid_funnel(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_LEAD), E(1, S_QUAL));
	expect_state(f, 0, SE_DEAL_OPEN, QUAL);
	expect_arrivals(f, 5, TOUCHED(0, 1, N, N, N), REACHED(0, 1, N, N, N));
	expect_pair(f, QUAL, OFFER, SE_MODE_REACHED, 0, 1, N);
	expect_pair(f, QUAL, OFFER, SE_MODE_TOUCHED, 0, 1, N);
	expect_pair(f, OFFER, INVOICE, SE_MODE_REACHED, 0, N, N);
	expect_pair(f, OFFER, INVOICE, SE_MODE_TOUCHED, 0, N, N);
}

/* Seen at Offer without passing Qual: reached Qual (at the Offer event),
 * never touched it. */
static void test_skipped_stage_reached_vs_touched(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_LEAD), E(1, S_OFFER), E(2, S_INVOICE));
	expect_state(f, 0, SE_DEAL_OPEN, INVOICE);
	expect_arrivals(f, 5, TOUCHED(0, N, 1, 2, N), REACHED(0, 1, 1, 2, N));
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, 0, 0, 1);
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, 0, N);
	expect_pair(f, QUAL, OFFER, SE_MODE_REACHED, 0, 1, 1); /* the same event */
	expect_pair(f, QUAL, OFFER, SE_MODE_TOUCHED, 0, N, N);
	expect_pair(f, LEAD, INVOICE, SE_MODE_TOUCHED, 0, 0, 2);

	/* Entered straight at Invoice: every earlier stage reached there. */
	EVAL(f, E(0, S_INVOICE));
	expect_state(f, 0, SE_DEAL_OPEN, INVOICE);
	expect_arrivals(f, 5, TOUCHED(N, N, N, 0, N), REACHED(0, 0, 0, 0, N));
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, 0, 0, 0);
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, N, N);
}

/* Going back and forth adds nothing: the first arrival at each stage. */
static void test_back_and_forth_counts_first_arrival(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_LEAD), E(1, S_QUAL), E(2, S_LEAD), E(3, S_QUAL), E(4, S_OFFER), E(5, S_QUAL),
	     E(6, S_OFFER));
	expect_state(f, 0, SE_DEAL_OPEN, OFFER);
	expect_arrivals(f, 5, TOUCHED(0, 1, 4, N, N), REACHED(0, 1, 4, N, N));
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, 0, 1);
	expect_pair(f, QUAL, OFFER, SE_MODE_TOUCHED, 0, 1, 4);
	expect_pair(f, QUAL, OFFER, SE_MODE_REACHED, 0, 1, 4);

	/* Back to an earlier stage last: open there, arrivals unchanged. */
	EVAL(f, E(0, S_LEAD), E(1, S_QUAL), E(2, S_OFFER), E(3, S_LEAD));
	expect_state(f, 0, SE_DEAL_OPEN, LEAD);
	expect_arrivals(f, 5, TOUCHED(0, 1, 2, N, N), REACHED(0, 1, 2, N, N));
}

/* Touched mode: B must come after A's first touch. */
static void test_touched_pair_b_only_before_a(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	/* At Qual, then back to Lead for the first time: Lead -> Qual did not
	 * happen after the Lead cohort event. */
	EVAL(f, E(0, S_QUAL), E(1, S_LEAD));
	expect_state(f, 0, SE_DEAL_OPEN, LEAD);
	expect_arrivals(f, 5, TOUCHED(1, 0, N, N, N), REACHED(0, 0, N, N, N));
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, 1, N);
	/* Reached mode: the deal reached Lead and Qual at its first event. */
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, 0, 0, 0);
}

static void test_touched_pair_b_revisited_after_a(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_QUAL), E(1, S_LEAD), E(2, S_QUAL), E(3, S_QUAL));
	expect_arrivals(f, 5, TOUCHED(1, 0, N, N, N), REACHED(0, 0, N, N, N));
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, 1, 2);

	/* Same timestamps: "after" is the (ts, event_id) order, i.e. position. */
	EVAL(f, E(0, S_QUAL), E(0, S_LEAD), E(0, S_QUAL));
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, 1, 2);
	EVAL(f, E(0, S_QUAL), E(0, S_LEAD));
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, 1, N);
}

/* ---- current state ------------------------------------------------------------ */

static void test_lost_after_a_stage(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_LEAD), E(1, S_QUAL), E(2, S_LOST));
	expect_state(f, 0, SE_DEAL_LOST, QUAL);
	expect_arrivals(f, 5, TOUCHED(0, 1, N, N, N), REACHED(0, 1, N, N, N));
	assert_int_equal(SE_STATUS_CLASS(f->e.code[2]), SE_CLASS_LOST);

	/* The second lost name means the same. */
	EVAL(f, E(0, S_LEAD), E(1, S_OFFER), E(2, S_CLOSED_LOST));
	expect_state(f, 0, SE_DEAL_LOST, OFFER);
}

/* Lost at the stage of the latest stage event before the final one, which
 * need not be the furthest stage the deal ever reached. */
static void test_lost_at_latest_stage_not_furthest(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_LEAD), E(1, S_INVOICE), E(2, S_QUAL), E(3, S_LOST));
	expect_state(f, 0, SE_DEAL_LOST, QUAL);

	/* Several terminal events in a row: the last decides, the lost-at stage
	 * is still the latest stage event before it. */
	EVAL(f, E(0, S_LEAD), E(1, S_OFFER), E(2, S_LOST), E(3, S_SPAM));
	expect_state(f, 0, SE_DEAL_NONTARGET, OFFER);
}

/* A lead created directly as lost: lost at the first stage, a lead in
 * reached mode (it entered the funnel), not in touched mode. */
static void test_lost_as_first_event(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_LOST));
	expect_state(f, 0, SE_DEAL_LOST, LEAD);
	expect_arrivals(f, 5, TOUCHED(N, N, N, N, N), REACHED(0, N, N, N, N));
	assert_int_equal(se_count_reach(&f->e, LEAD, SE_MODE_REACHED), 0);
	assert_int_equal(se_count_reach(&f->e, LEAD, SE_MODE_TOUCHED), N);
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, 0, 0, N);
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, N, N);

	/* Non-target first, then a normal path: the lead counts from the first
	 * event in reached mode, from the Lead event in touched mode. */
	EVAL(f, E(0, S_SPAM), E(1, S_LEAD), E(2, S_QUAL));
	expect_state(f, 0, SE_DEAL_OPEN, QUAL);
	expect_arrivals(f, 5, TOUCHED(1, 2, N, N, N), REACHED(0, 2, N, N, N));
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, 0, 0, 2);
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, 1, 2);
}

static void test_nontarget(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_SPAM));
	expect_state(f, 0, SE_DEAL_NONTARGET, LEAD);
	expect_arrivals(f, 5, TOUCHED(N, N, N, N, N), REACHED(0, N, N, N, N));

	EVAL(f, E(0, S_LEAD), E(1, S_QUAL), E(2, S_OFFER), E(3, S_SPAM));
	expect_state(f, 0, SE_DEAL_NONTARGET, OFFER);
	assert_int_equal(SE_STATUS_CLASS(f->e.code[3]), SE_CLASS_NONTARGET);
}

/* A lost deal moved back into a stage is open again: the latest event
 * decides. */
static void test_lost_deal_reopened(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_LEAD), E(1, S_QUAL), E(2, S_LOST), E(3, S_OFFER));
	expect_state(f, 0, SE_DEAL_OPEN, OFFER);
	expect_arrivals(f, 5, TOUCHED(0, 1, 3, N, N), REACHED(0, 1, 3, N, N));

	/* Reopened and won. */
	EVAL(f, E(0, S_LEAD), E(1, S_LOST), E(2, S_PAID));
	expect_state(f, 0, SE_DEAL_WON, PAID);

	/* Won, then lost: the current status is lost (at the won stage). */
	EVAL(f, E(0, S_LEAD), E(1, S_PAID), E(2, S_LOST));
	expect_state(f, 0, SE_DEAL_LOST, PAID);
	assert_int_equal(f->e.reached[PAID], 1);
}

/* se_count_stays' listing: what it gives a callback. */
typedef struct listed_stays {
	int n;
	int stage[8];
	uint32_t first[8], end[8];
} listed_stays;

static void list_stay(void *ud, int stage, uint32_t first, uint32_t end)
{
	listed_stays *l = ud;

	assert_true(l->n < 8);
	l->stage[l->n] = stage;
	l->first[l->n] = first;
	l->end[l->n] = end;
	l->n++;
}

/* Stays: a stage left and come back to adds up, an unknown status or a
 * second event at the stage does not end a stay, lost does; only the
 * finished ones are in the mask; the listed stays are every stay at the
 * stages asked for, in order, the unfinished one last. */
static void test_stays(void **state)
{
	fixture *f = *state;
	int64_t latest[SE_MAX_STAGES], total[SE_MAX_STAGES], since;
	int current;
	listed_stays l = { 0 };
	uint64_t done;

	load(f, sales_script);
	EVAL(f, E(0, S_LEAD), E(1, S_QUAL), E(2, S_DRAFT), E(3, S_QUAL), E(5, S_OFFER), E(6, S_QUAL),
	     E(10, S_OFFER), E(12, S_LOST), E(13, S_OFFER));
	done = se_count_stays(&f->e, PAID, latest, total, &current, &since, (uint64_t)1 << OFFER, list_stay, &l);
	assert_int_equal(done, (1u << LEAD) | (1u << QUAL) | (1u << OFFER));
	assert_int_equal(latest[LEAD], DAY);
	assert_int_equal(total[LEAD], DAY);
	assert_int_equal(latest[QUAL], 4 * DAY); /* day 6 to 10 */
	assert_int_equal(total[QUAL], 8 * DAY);  /* and day 1 to 5 */
	assert_int_equal(latest[OFFER], 2 * DAY);
	assert_int_equal(total[OFFER], 3 * DAY);
	assert_int_equal(current, OFFER);
	assert_int_equal(since, T0 + 13 * DAY);
	assert_int_equal(l.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(l.stage[i], OFFER);
	assert_int_equal(l.first[0], 4);
	assert_int_equal(l.end[0], 5);
	assert_int_equal(l.first[1], 6);
	assert_int_equal(l.end[1], 7);
	assert_int_equal(l.first[2], 8);
	assert_int_equal(l.end[2], 9); /* lasts now: n_events */

	/* Nothing listed without a callback; stages from n on are not stays. */
	done = se_count_stays(&f->e, QUAL, latest, total, &current, &since, ~(uint64_t)0, NULL, NULL);
	assert_int_equal(done, 1u << LEAD);
	assert_int_equal(current, OFFER);

	/* Lost now: no stay in progress. */
	l.n = 0;
	EVAL(f, E(0, S_LEAD), E(2, S_LOST));
	done = se_count_stays(&f->e, PAID, latest, total, &current, &since, ~(uint64_t)0, list_stay, &l);
	assert_int_equal(done, 1u << LEAD);
	assert_int_equal(latest[LEAD], 2 * DAY);
	assert_int_equal(current, SE_NONE);
	assert_int_equal(since, T0 + 2 * DAY);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.end[0], 1);
}

static const char won_not_last_script[] =
	"funnel {\n"
	"  name = 'delivery',\n"
	"  stages = { 'Lead', 'Qual', 'Paid', 'Delivered' },\n"
	"  won = 'Paid',\n"
	"  lost = 'Lost',\n"
	"}\n";

/* The won stage is not the last: the stage after it counts as won. */
static void test_won_stage_not_last(void **state)
{
	fixture *f = *state;

	load(f, won_not_last_script);
	assert_int_equal(f->rules->funnels[0].won, 2);
	EVAL(f, E(0, S_LEAD), E(1, S_DELIVERED));
	expect_state(f, 0, SE_DEAL_WON, 3);
	expect_arrivals(f, 4, TOUCHED(0, N, N, 1), REACHED(0, 1, 1, 1));
	/* Reached mode: it reached the won stage, so it is won. */
	assert_int_equal(se_count_reach(&f->e, 2, SE_MODE_REACHED), 1);

	EVAL(f, E(0, S_LEAD), E(1, S_PAID));
	expect_state(f, 0, SE_DEAL_WON, 2);
	EVAL(f, E(0, S_LEAD), E(1, S_QUAL));
	expect_state(f, 0, SE_DEAL_OPEN, 1);
	EVAL(f, E(0, S_LEAD), E(1, S_PAID), E(2, S_DELIVERED), E(3, S_QUAL));
	expect_state(f, 0, SE_DEAL_OPEN, 1);
}

/* ---- windows -------------------------------------------------------------------- */

static void test_windows(void **state)
{
	fixture *f = *state;
	const int64_t w = 7 * DAY;

	load(f, sales_script);
	assert_int_equal(f->rules->funnels[0].pairs[5].window, w);

	/* Inside the window. */
	EVAL(f, ES(0, S_LEAD), ES(w - 1, S_QUAL));
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, w, 0, 1);
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, w, 0, 1);
	/* Exactly at the limit still counts. */
	EVAL(f, ES(0, S_LEAD), ES(w, S_QUAL));
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, w, 0, 1);
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, w, 0, 1);
	/* One second beyond does not; without a window it does. */
	EVAL(f, ES(0, S_LEAD), ES(w + 1, S_QUAL));
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, w, 0, N);
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, w, 0, N);
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, 0, 0, 1);

	/* The window runs from the cohort event, and it is the first arrival
	 * at B after it that must fall inside: a later revisit does not help. */
	EVAL(f, ES(0, S_QUAL), ES(DAY, S_OFFER), ES(DAY + w + 1, S_PAID));
	expect_pair(f, QUAL, PAID, SE_MODE_TOUCHED, w, 0, N);
	EVAL(f, ES(0, S_QUAL), ES(2 * DAY, S_PAID), ES(3 * DAY, S_QUAL), ES(3 * DAY + w, S_PAID));
	expect_pair(f, QUAL, PAID, SE_MODE_TOUCHED, w, 0, 1);

	/* Reached mode: reached(B) is measured from reached(A), here a stage
	 * skipped to (Invoice reaches Offer). */
	EVAL(f, ES(0, S_LEAD), ES(DAY, S_INVOICE), ES(DAY + w, S_PAID));
	expect_pair(f, OFFER, PAID, SE_MODE_REACHED, w, 1, 2);
	expect_pair(f, LEAD, PAID, SE_MODE_REACHED, w, 0, N);
	/* Touched mode: B revisited after A but beyond the window. */
	EVAL(f, ES(0, S_QUAL), ES(DAY, S_LEAD), ES(DAY + w + 1, S_QUAL));
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, w, 1, N);
	EVAL(f, ES(0, S_QUAL), ES(DAY, S_LEAD), ES(DAY + w, S_QUAL));
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, w, 1, 2);
}

/* ---- names ---------------------------------------------------------------------- */

static void test_aliases(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_NEW_LEAD), E(1, S_QUAL), E(2, S_ZAYAVKA));
	expect_state(f, 0, SE_DEAL_OPEN, LEAD);
	expect_arrivals(f, 5, TOUCHED(0, 1, N, N, N), REACHED(0, 1, N, N, N));
	assert_int_equal(f->e.code[0], SE_STATUS_CODE(SE_CLASS_STAGE, LEAD));
	assert_int_equal(f->e.code[2], SE_STATUS_CODE(SE_CLASS_STAGE, LEAD));

	/* An alias first touched after the stage's own name: first arrival. */
	EVAL(f, E(0, S_QUAL), E(1, S_ZAYAVKA), E(2, S_QUAL), E(3, S_LEAD));
	expect_arrivals(f, 5, TOUCHED(1, 0, N, N, N), REACHED(0, 0, N, N, N));
	expect_pair(f, LEAD, QUAL, SE_MODE_TOUCHED, 0, 1, 2);
}

/* A status the funnel does not know: code 0, ignored for stages and for
 * the current state. */
static void test_unknown_status_ignored(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	EVAL(f, E(0, S_LEAD), E(1, S_DRAFT), E(2, S_QUAL), E(3, S_DRAFT));
	expect_state(f, 0, SE_DEAL_OPEN, QUAL);
	expect_arrivals(f, 5, TOUCHED(0, 2, N, N, N), REACHED(0, 2, N, N, N));
	assert_int_equal(f->e.code[1], 0);
	assert_int_equal(f->e.code[3], 0);

	/* Between a stage and a lost status it changes nothing. */
	EVAL(f, E(0, S_LEAD), E(1, S_OFFER), E(2, S_DRAFT), E(3, S_LOST), E(4, S_DRAFT));
	expect_state(f, 0, SE_DEAL_LOST, OFFER);

	/* A status id beyond the known names is unknown too. */
	EVAL(f, E(0, S_LEAD), E(1, N_STATUS + 5));
	expect_state(f, 0, SE_DEAL_OPEN, LEAD);
	assert_int_equal(f->e.code[1], 0);
}

static void test_first_events_unknown(void **state)
{
	fixture *f = *state;

	load(f, sales_script);
	/* The deal enters the funnel at its first resolving event. */
	EVAL(f, E(0, S_DRAFT), E(1, S_DRAFT), E(2, S_QUAL), E(3, S_OFFER));
	expect_state(f, 0, SE_DEAL_OPEN, OFFER);
	expect_arrivals(f, 5, TOUCHED(N, 2, 3, N, N), REACHED(2, 2, 3, N, N));
	assert_int_equal(f->e.code[0], 0);
	assert_int_equal(f->e.code[1], 0);
	expect_pair(f, LEAD, QUAL, SE_MODE_REACHED, 0, 2, 2);

	EVAL(f, E(0, S_DRAFT), E(1, S_LOST));
	expect_state(f, 0, SE_DEAL_LOST, LEAD);
	expect_arrivals(f, 5, TOUCHED(N, N, N, N, N), REACHED(1, N, N, N, N));

	/* Nothing resolves: the deal is in no funnel. */
	EVAL(f, E(0, S_DRAFT), E(1, S_TICKET));
	assert_int_equal(f->e.funnel, SE_NONE);
	assert_int_equal(f->e.code[0], 0);
	assert_int_equal(f->e.code[1], 0);
}

/* ---- several funnels -------------------------------------------------------------- */

static const char two_funnels_script[] =
	"funnel {\n"
	"  name = 'sales',\n"
	"  stages = { 'Lead', 'Qual', 'Paid' },\n"
	"  lost = 'Lost',\n"
	"}\n"
	"funnel {\n"
	"  name = 'support',\n"
	"  stages = { 'Ticket', 'Lead', 'Solved' },\n"
	"  lost = 'Spam',\n"
	"}\n";

static void test_two_funnels(void **state)
{
	fixture *f = *state;

	load(f, two_funnels_script);
	assert_int_equal(f->rules->n_funnels, 2);
	/* "Lead" is in both: the first funnel in script order wins. */
	assert_int_equal(f->ctx.codes[0 * N_STATUS + S_LEAD], SE_STATUS_CODE(SE_CLASS_STAGE, 0));
	assert_int_equal(f->ctx.codes[1 * N_STATUS + S_LEAD], SE_STATUS_CODE(SE_CLASS_STAGE, 1));
	EVAL(f, E(0, S_LEAD), E(1, S_QUAL));
	expect_state(f, 0, SE_DEAL_OPEN, 1);

	/* The earliest resolving event is the support funnel's: the deal is a
	 * support deal, and "Qual" (sales only) is unknown in it. */
	EVAL(f, E(0, S_DRAFT), E(1, S_TICKET), E(2, S_QUAL), E(3, S_LEAD));
	expect_state(f, 1, SE_DEAL_OPEN, 1);
	assert_int_equal(f->e.code[0], 0);
	assert_int_equal(f->e.code[1], SE_STATUS_CODE(SE_CLASS_STAGE, 0));
	assert_int_equal(f->e.code[2], 0);
	assert_int_equal(f->e.code[3], SE_STATUS_CODE(SE_CLASS_STAGE, 1));
	expect_arrivals(f, 3, TOUCHED(1, 3, N), REACHED(1, 3, N));

	/* A sales deal: the support statuses after it are unknown, and so is
	 * the support funnel's lost name. */
	EVAL(f, E(0, S_QUAL), E(1, S_TICKET), E(2, S_SOLVED), E(3, S_SPAM));
	expect_state(f, 0, SE_DEAL_OPEN, 1);
	assert_int_equal(f->e.code[1], 0);
	assert_int_equal(f->e.code[2], 0);
	assert_int_equal(f->e.code[3], 0);
	expect_arrivals(f, 3, TOUCHED(N, 0, N), REACHED(0, 0, N));

	/* Lost ("Spam") means lost in support; first event decides. */
	EVAL(f, E(0, S_SPAM), E(1, S_LOST));
	expect_state(f, 1, SE_DEAL_LOST, 0);
	assert_int_equal(f->e.code[1], 0);
}

/* ---- pipelines -------------------------------------------------------------------- */

static const char pipelines_script[] =
	"funnel {\n"
	"  name = 'b2b',\n"
	"  stages = { 'Lead', 'Qual', 'Paid' },\n"
	"  pipelines = { 'B2B' },\n"
	"}\n"
	"funnel {\n"
	"  name = 'retail',\n"
	"  stages = { 'Lead', 'Offer', 'Paid' },\n"
	"}\n";

static void test_pipelines(void **state)
{
	fixture *f = *state;

	load(f, pipelines_script);
	assert_int_equal(f->rules->funnels[0].n_pipelines, 1);
	assert_string_equal(f->rules->funnels[0].pipelines[0], "B2B");
	/* b2b: no pipeline or B2B; retail lists none: anything. */
	assert_true(f->ctx.pipeline_ok[0 * N_PIPELINE + P_NONE]);
	assert_true(f->ctx.pipeline_ok[0 * N_PIPELINE + P_B2B]);
	assert_false(f->ctx.pipeline_ok[0 * N_PIPELINE + P_RETAIL]);
	for (int p = 0; p < N_PIPELINE; p++)
		assert_true(f->ctx.pipeline_ok[1 * N_PIPELINE + p]);

	/* No pipeline value: resolves in the first funnel. */
	EVAL(f, EP(0, S_LEAD, P_NONE), EP(1, S_QUAL, P_NONE));
	expect_state(f, 0, SE_DEAL_OPEN, 1);
	/* A listed pipeline. */
	EVAL(f, EP(0, S_LEAD, P_B2B), EP(1, S_PAID, P_B2B));
	expect_state(f, 0, SE_DEAL_WON, 2);
	/* A pipeline b2b does not list: the event resolves in retail only. */
	EVAL(f, EP(0, S_LEAD, P_RETAIL), EP(1, S_OFFER, P_RETAIL));
	expect_state(f, 1, SE_DEAL_OPEN, 1);
	/* Status only b2b knows, in the wrong pipeline: resolves nowhere, the
	 * next event decides the funnel. */
	EVAL(f, EP(0, S_QUAL, P_RETAIL), EP(1, S_LEAD, P_RETAIL));
	expect_state(f, 1, SE_DEAL_OPEN, 0);
	assert_int_equal(f->e.code[0], 0);
	expect_arrivals(f, 3, TOUCHED(1, N, N), REACHED(1, N, N));
	/* A b2b deal: a later event of another pipeline does not resolve in
	 * b2b (and is not read in retail either). */
	EVAL(f, EP(0, S_LEAD, P_B2B), EP(1, S_PAID, P_RETAIL), EP(2, S_QUAL, P_NONE));
	expect_state(f, 0, SE_DEAL_OPEN, 1);
	assert_int_equal(f->e.code[1], 0);
	expect_arrivals(f, 3, TOUCHED(0, 2, N), REACHED(0, 2, N));
	/* An unknown pipeline id resolves nowhere. */
	EVAL(f, EP(0, S_LEAD, N_PIPELINE + 3));
	assert_int_equal(f->e.funnel, SE_NONE);
}

/* ---- every history against the definitions ------------------------------------------ */

/* The definitions of docs/METRICS.md sections 1-3, read as literally as
 * they are written, one question at a time: what se_count_deal answers
 * in one walk over the events must equal this. */
static int64_t ref_code(const fixture *f, int funnel, const se_chunk_event *ev)
{
	if (ev->status >= N_STATUS || ev->pipeline >= N_PIPELINE ||
	    !f->ctx.pipeline_ok[(size_t)funnel * N_PIPELINE + ev->pipeline])
		return 0;
	return f->ctx.codes[(size_t)funnel * N_STATUS + ev->status];
}

static void expect_definitions(const fixture *f, const se_chunk_event *ev, uint32_t n)
{
	int funnel = SE_NONE, ns, state, stage = 0;
	int32_t first = SE_NONE, last = SE_NONE;
	int64_t code[MAX_EVENTS];

	/* the funnel: the first (in script order) the earliest resolving event resolves in */
	for (uint32_t i = 0; i < n && funnel == SE_NONE; i++)
		for (int k = 0; k < f->rules->n_funnels && funnel == SE_NONE; k++)
			if (ref_code(f, k, &ev[i]) != 0)
				funnel = k;
	assert_int_equal(f->e.funnel, funnel);
	for (uint32_t i = 0; i < n; i++) {
		code[i] = funnel == SE_NONE ? 0 : ref_code(f, funnel, &ev[i]);
		if (f->e.code[i] != code[i])
			fail_msg("code[%u] is %lld, expected %lld", i, (long long)f->e.code[i], (long long)code[i]);
		if (code[i] != 0 && first == SE_NONE)
			first = (int32_t)i;
		if (code[i] != 0)
			last = (int32_t)i;
	}
	if (funnel == SE_NONE)
		return;
	ns = f->rules->funnels[funnel].n_stages;
	for (int s = 0; s < ns; s++) {
		int32_t touched = SE_NONE, reached = SE_NONE;

		/* touched: the first event at s; reached: the first at s or
		 * beyond, and entering the funnel is reaching its first stage */
		for (uint32_t i = 0; i < n; i++) {
			if (SE_STATUS_CLASS(code[i]) != SE_CLASS_STAGE)
				continue;
			if (touched == SE_NONE && SE_STATUS_STAGE(code[i]) == s)
				touched = (int32_t)i;
			if (reached == SE_NONE && SE_STATUS_STAGE(code[i]) >= s)
				reached = (int32_t)i;
		}
		if (s == 0)
			reached = first;
		if (f->e.touched[s] != touched || f->e.reached[s] != reached)
			fail_msg("stage %d: touched %d reached %d, expected %d and %d", s, f->e.touched[s],
			         f->e.reached[s], touched, reached);
	}
	/* where it is now: its last resolving status; lost or non-target at
	 * the last stage it stood at before (the first if none) */
	if (SE_STATUS_CLASS(code[last]) == SE_CLASS_STAGE) {
		stage = SE_STATUS_STAGE(code[last]);
		state = stage >= f->rules->funnels[funnel].won ? SE_DEAL_WON : SE_DEAL_OPEN;
	} else {
		state = SE_STATUS_CLASS(code[last]) == SE_CLASS_LOST ? SE_DEAL_LOST : SE_DEAL_NONTARGET;
		for (int32_t i = 0; i < last; i++)
			if (SE_STATUS_CLASS(code[i]) == SE_CLASS_STAGE)
				stage = SE_STATUS_STAGE(code[i]);
	}
	expect_state(f, funnel, state, stage);
}

static uint32_t next_random(uint64_t *x)
{
	*x = *x * 6364136223846793005u + 1442695040888963407u;
	return (uint32_t)(*x >> 33);
}

/* 1 to 12 events a day apart, each of any status (and one no name has)
 * and now and then any pipeline; returns how many. */
static uint32_t random_history(uint64_t *x, se_chunk_event *ev)
{
	uint32_t n = 1 + next_random(x) % 12;

	for (uint32_t i = 0; i < n; i++) {
		ev[i].ts = T0 + (int64_t)i * DAY;
		ev[i].status = next_random(x) % (N_STATUS + 1);
		ev[i].pipeline = next_random(x) % 4 == 0 ? next_random(x) % (N_PIPELINE + 1) : P_NONE;
	}
	return n;
}

/* Random histories (any status of either funnel or none, any pipeline,
 * forward, back, skipping, ending anywhere) in both funnel layouts. */
static void test_random_histories_match_definitions(void **state)
{
	fixture *f = *state;
	const char *scripts[] = { sales_script, two_funnels_script, pipelines_script };
	uint64_t x = 42;

	for (size_t k = 0; k < sizeof scripts / sizeof scripts[0]; k++) {
		load(f, scripts[k]);
		for (int round = 0; round < 20000; round++) {
			se_chunk_event ev[MAX_EVENTS];
			uint32_t n = random_history(&x, ev);

			evaluate(f, ev, n);
			expect_definitions(f, ev, n);
		}
	}
}

/* se_count_prefix: a deal's first n events as se_count_deal evaluates
 * them alone (the backtest's replays), for every n of random histories,
 * events before the first that resolves included. */
static void test_prefix_matches_fresh_evaluation(void **state)
{
	fixture *f = *state;
	const char *scripts[] = { sales_script, two_funnels_script, pipelines_script, won_not_last_script };
	uint64_t x = 7;

	for (size_t k = 0; k < sizeof scripts / sizeof scripts[0]; k++) {
		load(f, scripts[k]);
		for (int round = 0; round < 5000; round++) {
			se_chunk_event ev[MAX_EVENTS];
			uint32_t n = random_history(&x, ev);

			evaluate(f, ev, n);
			for (uint32_t cut = 0; cut <= n; cut++) {
				se_chunk_deal d = f->deal;
				int64_t scratch[MAX_EVENTS];
				se_deal_eval want, got;

				d.n_events = cut;
				memset(&want, 0x55, sizeof want);
				memset(&got, 0x55, sizeof got);
				se_count_deal(&f->ctx, &d, f->ev, scratch, &want);
				se_count_prefix(&f->ctx, &f->e, cut, &got);
				assert_int_equal(got.funnel, want.funnel);
				assert_int_equal(got.n_events, cut);
				assert_ptr_equal(got.ev, f->ev);
				if (want.funnel == SE_NONE)
					continue;
				int ns = f->rules->funnels[want.funnel].n_stages;

				assert_int_equal(got.state, want.state);
				assert_int_equal(got.stage, want.stage);
				assert_memory_equal(got.touched, want.touched, (size_t)ns * sizeof got.touched[0]);
				assert_memory_equal(got.reached, want.reached, (size_t)ns * sizeof got.reached[0]);
				assert_memory_equal(got.code, want.code, cut * sizeof got.code[0]);
			}
		}
	}
}

/* ---- the history packer ------------------------------------------------------------ */

static void add_row(fixture *f, int64_t deal, int64_t ts, const char *key, uint32_t status,
                    uint32_t manager, uint32_t source, double amount)
{
	se_history_row r = {
		.deal = deal, .ts = ts, .key = key, .key_len = strlen(key), .status = status,
		.pipeline = (uint32_t)(deal % 3), .manager = manager, .source = source, .amount = amount,
	};

	assert_int_equal(se_history_builder_add(f->builder, &r, &f->err), SE_OK);
}

static void pack(fixture *f, se_chunk_view *v)
{
	const void *blob = NULL;
	size_t size = 0;

	assert_int_equal(se_history_builder_pack(f->builder, &blob, &size, &f->err), SE_OK);
	assert_non_null(blob);
	assert_int_equal(((uintptr_t)blob) % 8, 0);
	assert_int_equal(se_history_view(blob, size, v, &f->err), SE_OK);
}

static void test_history_sorts_rows(void **state)
{
	fixture *f = *state;
	se_chunk_view v;
	/* Expected order of deal 7: by ts, then event_id byte-wise with a
	 * shorter prefix first ("e1" < "e10" < "e9"). */
	static const struct { int64_t ts; uint32_t status; } want7[] = {
		{ 50, S_LEAD }, { 100, S_QUAL }, { 100, S_OFFER }, { 100, S_INVOICE },
		{ 100, S_PAID }, { 200, S_LOST },
	};

	assert_int_equal(se_history_builder_new(&f->builder, &f->err), SE_OK);
	add_row(f, 9, 10, "x", S_DRAFT, 0, 0, NAN);
	add_row(f, 7, 100, "e9", S_PAID, 0, 0, NAN);
	add_row(f, 7, 200, "a", S_LOST, 0, 0, NAN);
	add_row(f, 7, 100, "e1", S_QUAL, 0, 0, NAN);
	add_row(f, 3, 500, "z", S_LEAD, 0, 0, NAN);
	add_row(f, 7, 100, "e10", S_OFFER, 0, 0, NAN);
	add_row(f, 7, 50, "zzz", S_LEAD, 0, 0, NAN);
	add_row(f, 7, 100, "e10x", S_INVOICE, 0, 0, NAN);
	add_row(f, 3, 400, "y", S_QUAL, 0, 0, NAN);
	pack(f, &v);

	assert_int_equal(v.n_deals, 3);
	assert_int_equal(v.n_events, 9);
	assert_int_equal(v.deals[0].deal, 3);
	assert_int_equal(v.deals[0].n_events, 2);
	assert_int_equal(v.deals[1].deal, 7);
	assert_int_equal(v.deals[1].n_events, 6);
	assert_int_equal(v.deals[2].deal, 9);
	assert_int_equal(v.deals[2].n_events, 1);
	/* Deal 3: by ts although added the other way round. */
	assert_int_equal(v.events[0].ts, 400);
	assert_int_equal(v.events[0].status, S_QUAL);
	assert_int_equal(v.events[0].pipeline, 0);
	assert_int_equal(v.events[1].ts, 500);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(v.events[2 + i].ts, want7[i].ts);
		assert_int_equal(v.events[2 + i].status, want7[i].status);
		assert_int_equal(v.events[2 + i].pipeline, 1); /* 7 % 3 */
	}
	assert_int_equal(v.events[8].status, S_DRAFT);
	assert_int_equal(v.events[8].ts, 10);
}

static void test_history_ids_compare_bytewise(void **state)
{
	fixture *f = *state;
	se_chunk_view v;

	/* Non-ASCII bytes sort after ASCII (unsigned), and an id that is a
	 * prefix of another comes first. */
	assert_int_equal(se_history_builder_new(&f->builder, &f->err), SE_OK);
	add_row(f, 1, 0, "Я", S_PAID, 0, 0, NAN);
	add_row(f, 1, 0, "z", S_INVOICE, 0, 0, NAN);
	add_row(f, 1, 0, "Z", S_QUAL, 0, 0, NAN);
	add_row(f, 1, 0, "ZZ", S_OFFER, 0, 0, NAN);
	add_row(f, 1, 0, "", S_LEAD, 0, 0, NAN);
	pack(f, &v);
	assert_int_equal(v.n_events, 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(v.events[i].status, S_LEAD + i);
}

static void test_history_attributes(void **state)
{
	fixture *f = *state;
	se_chunk_view v;

	assert_int_equal(se_history_builder_new(&f->builder, &f->err), SE_OK);
	/* Deal 1 in order: (t1 "a": mgr 0 src 0 amount -), (t2 "b": mgr 4
	 * src 6 amount 100), (t3 "c10": mgr 5 src 7 amount 200), (t3 "c9":
	 * mgr 0 src 8 amount -).  Manager: the latest that has one (5), source:
	 * the earliest that has one (6), amount: the latest that has one. */
	add_row(f, 1, 300, "c9", S_QUAL, 0, 8, NAN);
	add_row(f, 1, 100, "a", S_LEAD, 0, 0, NAN);
	add_row(f, 1, 300, "c10", S_QUAL, 5, 7, 200.0);
	add_row(f, 1, 200, "b", S_LEAD, 4, 6, 100.0);
	/* Deal 2: nothing at all. */
	add_row(f, 2, 100, "d", S_LEAD, 0, 0, NAN);
	/* Deal 3: the tie order decides which value is the latest ("e10" is
	 * before "e9"), and an amount of 0 is a value. */
	add_row(f, 3, 100, "e9", S_LEAD, 2, 0, 0.0);
	add_row(f, 3, 100, "e10", S_LEAD, 3, 9, 50.0);
	pack(f, &v);

	assert_int_equal(v.n_deals, 3);
	assert_int_equal(v.deals[0].manager, 5);
	assert_int_equal(v.deals[0].source, 6);
	assert_true(v.deals[0].amount == 200.0);
	assert_int_equal(v.deals[1].manager, 0);
	assert_int_equal(v.deals[1].source, 0);
	assert_true(isnan(v.deals[1].amount));
	assert_int_equal(v.deals[2].manager, 2);
	assert_int_equal(v.deals[2].source, 9);
	assert_true(v.deals[2].amount == 0.0);
}

/* BUG: on a builder that never had a row, pack calls qsort(NULL, 0, ...)
 * (history.c, se_history_builder_pack): undefined behaviour that UBSan
 * reports, and aborts on under -fno-sanitize-recover (CMake SE_SANITIZE).
 * An empty chunk must pack to an empty, valid blob. */
static void test_history_empty_chunk(void **state)
{
	fixture *f = *state;
	se_chunk_view v;

	assert_int_equal(se_history_builder_new(&f->builder, &f->err), SE_OK);
	pack(f, &v);
	assert_int_equal(v.n_deals, 0);
	assert_int_equal(v.n_events, 0);
}

static void test_history_reset(void **state)
{
	fixture *f = *state;
	se_chunk_view v;

	assert_int_equal(se_history_builder_new(&f->builder, &f->err), SE_OK);
	add_row(f, 1, 1, "a", S_LEAD, 0, 0, NAN);
	pack(f, &v);
	assert_int_equal(v.n_deals, 1);
	/* A reset forgets the rows: the next chunk has only its own. */
	se_history_builder_reset(f->builder);
	pack(f, &v);
	assert_int_equal(v.n_deals, 0);
	add_row(f, 4100, 5, "b", S_QUAL, 1, 1, 1.5);
	add_row(f, 4101, 6, "c", S_OFFER, 0, 0, NAN);
	pack(f, &v);
	assert_int_equal(v.n_deals, 2);
	assert_int_equal(v.deals[0].deal, 4100);
	assert_int_equal(v.deals[1].deal, 4101);
	assert_int_equal(v.events[0].status, S_QUAL);

	/* Many rows: the builder grows past its first allocation. */
	se_history_builder_reset(f->builder);
	for (int i = 0; i < 5000; i++) {
		char key[16];

		snprintf(key, sizeof key, "k%05d", 4999 - i);
		add_row(f, 1 + i % 10, 0, key, S_LEAD, 0, 0, NAN);
	}
	pack(f, &v);
	assert_int_equal(v.n_deals, 10);
	assert_int_equal(v.n_events, 5000);
	for (uint32_t d = 0; d < 10; d++)
		assert_int_equal(v.deals[d].n_events, 500);
}

static void expect_corrupt(fixture *f, const void *blob, size_t size)
{
	se_chunk_view v;

	memset(&f->err, 0, sizeof f->err);
	assert_int_equal(se_history_view(blob, size, &v, &f->err), SE_EDB);
	assert_int_equal(f->err.code, SE_EDB);
	assert_non_null(strstr(f->err.msg, "cache chunk is corrupt"));
}

static void test_history_corrupt_blob(void **state)
{
	fixture *f = *state;
	const void *blob;
	size_t size;
	uint64_t copy[64];
	se_chunk_header *hdr = (se_chunk_header *)copy;
	se_chunk_deal *deals = (se_chunk_deal *)(hdr + 1);

	assert_int_equal(se_history_builder_new(&f->builder, &f->err), SE_OK);
	add_row(f, 1, 1, "a", S_LEAD, 1, 1, 10.0);
	add_row(f, 1, 2, "b", S_QUAL, 1, 1, NAN);
	add_row(f, 2, 3, "c", S_LEAD, 0, 0, NAN);
	assert_int_equal(se_history_builder_pack(f->builder, &blob, &size, &f->err), SE_OK);
	assert_true(size <= sizeof copy);
	assert_int_equal(size, sizeof(se_chunk_header) + 2 * sizeof(se_chunk_deal) +
	                           3 * sizeof(se_chunk_event));
	memcpy(copy, blob, size);

	/* Bad magic, or the other byte order. */
	hdr->magic = 0x12345678u;
	expect_corrupt(f, copy, size);
	hdr->magic = __builtin_bswap32(SE_HISTORY_MAGIC);
	expect_corrupt(f, copy, size);
	hdr->magic = SE_HISTORY_MAGIC;
	/* Truncated: anywhere, down to less than a header. */
	expect_corrupt(f, copy, size - 1);
	expect_corrupt(f, copy, size - sizeof(se_chunk_event));
	expect_corrupt(f, copy, sizeof(se_chunk_header));
	expect_corrupt(f, copy, sizeof(se_chunk_header) - 1);
	expect_corrupt(f, copy, 0);
	/* Longer than it says. */
	expect_corrupt(f, copy, size + 8);
	/* Per-deal counts that do not add up to the header's. */
	deals[0].n_events = 3;
	expect_corrupt(f, copy, size);
	deals[0].n_events = 2;
	/* Headers that claim more than is there. */
	hdr->n_deals = 3;
	expect_corrupt(f, copy, size);
	hdr->n_deals = UINT32_MAX;
	expect_corrupt(f, copy, size);
	hdr->n_deals = 2;
	hdr->n_events = UINT32_MAX;
	expect_corrupt(f, copy, size);
	hdr->n_events = 3;
	/* And the untouched copy is fine. */
	{
		se_chunk_view v;

		assert_int_equal(se_history_view(copy, size, &v, &f->err), SE_OK);
		assert_int_equal(v.n_deals, 2);
		assert_int_equal(v.n_events, 3);
	}
}

/* A packed chunk read through the counting core: the path a report takes. */
static void test_packed_chunk_through_count(void **state)
{
	fixture *f = *state;
	se_chunk_view v;
	int64_t scratch[8];
	se_deal_eval e;

	load(f, sales_script);
	assert_int_equal(se_history_builder_new(&f->builder, &f->err), SE_OK);
	/* Same ts: "e10" (Lost) sorts before "e9" (Qual), so the deal is open. */
	add_row(f, 1, T0 + DAY, "e9", S_QUAL, 0, 0, NAN);
	add_row(f, 1, T0 + DAY, "e10", S_LOST, 0, 0, NAN);
	add_row(f, 1, T0, "e1", S_LEAD, 0, 0, NAN);
	pack(f, &v);
	se_count_deal(&f->ctx, &v.deals[0], v.events, scratch, &e);
	assert_int_equal(e.funnel, 0);
	assert_int_equal(e.state, SE_DEAL_OPEN);
	assert_int_equal(e.stage, QUAL);
	assert_int_equal(e.touched[QUAL], 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rules_and_status_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_deal_mid_funnel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skipped_stage_reached_vs_touched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_back_and_forth_counts_first_arrival, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touched_pair_b_only_before_a, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touched_pair_b_revisited_after_a, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_after_a_stage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_at_latest_stage_not_furthest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_as_first_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nontarget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_deal_reopened, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_won_stage_not_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_status_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_events_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_funnels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_histories_match_definitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_matches_fresh_evaluation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_sorts_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_ids_compare_bytewise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_empty_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_corrupt_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_chunk_through_count, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
