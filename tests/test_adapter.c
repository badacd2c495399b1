/*
 * test_adapter.c: imports through Lua adapters (core/adapter.c, the adapter
 * core/lua/adapter_host.c, the adapters in scripts/importers/).
 *
 * The bundled adapters run on the fixtures in tests/fixtures/importers/,
 * built from the shapes the CRMs' API documentation gives; each test
 * compares every stored event (through the `events` view, from a second
 * SQLite connection) and every message.  The test's working directory is
 * the fixture directory while it imports, so messages read
 * "events.json:record 4: ..."; the store and any file a test writes live
 * in a fresh temporary directory.  Every import goes through run(), which
 * checks read == imported + duplicates + rejected and one message per
 * rejected item.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "encoding.h"
#include "helpers.h"
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SE_SOURCE_DIR
#define SE_SOURCE_DIR "."
#endif
#define FIXTURES SE_SOURCE_DIR "/tests/fixtures/importers/"

typedef struct fixture {
	char dir[64];
	char db[128];
	char *old_cwd;
	se_store *st;
	se_error err;
	se_import_opts opts;
	se_import_stats stats;
	se_script_limits limits;
	char rejects[4096];       /* every message, one per line */
	size_t n_rejects;
} fixture;

static void collect_reject(void *ud, const char *message)
{
	fixture *f = ud;
	size_t used = strlen(f->rejects);

	snprintf(f->rejects + used, sizeof f->rejects - used, "%s\n", message);
	f->n_rejects++;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	if (scratch_store_open("test_adapter", "events.db", f->dir, sizeof f->dir, f->db, sizeof f->db,
	                       &f->st) != 0 || (f->old_cwd = getcwd(NULL, 0)) == NULL)
		return -1;
	f->opts.on_reject = collect_reject;
	f->opts.ud = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f->old_cwd != NULL && chdir(f->old_cwd) != 0)
		perror("chdir");
	free(f->old_cwd);
	scratch_store_close(&f->st, f->dir);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static void in_fixtures(const char *sub)
{
	char path[1024];

	snprintf(path, sizeof path, FIXTURES "%s", sub);
	assert_int_equal(chdir(path), 0);
}

static void in_scratch(fixture *f)
{
	assert_int_equal(chdir(f->dir), 0);
}

/* Runs an adapter over files (NULL-terminated); checks the invariants. */
static int run_files(fixture *f, const char *adapter, const char *const *files)
{
	int n = 0, rc;

	while (files[n] != NULL)
		n++;
	f->rejects[0] = '\0';
	f->n_rejects = 0;
	se_error_clear(&f->err);
	memset(&f->stats, 0xAB, sizeof f->stats); /* must be reset by the import */
	rc = se_import_with(f->st, adapter, files, n, &f->opts, &f->limits, &f->stats, &f->err);
	assert_int_equal(f->stats.read, f->stats.imported + f->stats.duplicates + f->stats.rejected);
	assert_int_equal(f->stats.rejected, (int64_t)f->n_rejects);
	if (rc != SE_OK)
		assert_int_equal(f->err.code, rc);
	return rc;
}

#define RUN(f, adapter, ...) run_files((f), (adapter), (const char *const[]){ __VA_ARGS__, NULL })

static void ok(fixture *f, int rc)
{
	if (rc != SE_OK)
		fail_msg("import failed (%d): %s", rc, f->err.msg);
}

static void expect_stats(const fixture *f, int64_t records, int64_t read, int64_t imported,
                         int64_t duplicates, int64_t rejected)
{
	assert_int_equal(f->stats.records, records);
	assert_int_equal(f->stats.read, read);
	assert_int_equal(f->stats.imported, imported);
	assert_int_equal(f->stats.duplicates, duplicates);
	assert_int_equal(f->stats.rejected, rejected);
}

/* Rows of a query on a second connection, "|"-separated, one per line. */
static char *query(const fixture *f, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	assert_non_null(mem);
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(s); i++) {
			const unsigned char *t = sqlite3_column_text(s, i);

			fprintf(mem, "%s%s", i ? "|" : "", t ? (const char *)t : "");
		}
		fputc('\n', mem);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	fclose(mem);
	return out;
}

#define EVENTS \
	"SELECT event_id, deal_id, ts, stage, from_stage, manager, source, amount, pipeline," \
	" currency FROM events ORDER BY event_id"

static void expect_query(const fixture *f, const char *sql, const char *want)
{
	char *got = query(f, sql);

	if (strcmp(got, want) != 0)
		fail_msg("query %s\n--- got:\n%s--- want:\n%s", sql, got, want);
	free(got);
}

static void expect_events(const fixture *f, const char *want)
{
	expect_query(f, EVENTS, want);
}

static void expect_rejects(const fixture *f, const char *want)
{
	if (strcmp(f->rejects, want) != 0)
		fail_msg("messages:\n%s--- want:\n%s", f->rejects, want);
}

/* The report of a rules file on the store, CSV, only the given reports. */
static char *report(fixture *f, const char *rules, unsigned reports)
{
	se_script *sc = NULL;
	se_report *rep = NULL;
	se_report_opts ro = { .reports = reports, .as_of = 1798761600 /* 2027-01-01 */ };
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	assert_non_null(mem);
	if (se_script_load(&sc, rules, NULL, &f->err) != SE_OK)
		fail_msg("%s", f->err.msg);
	assert_int_equal(se_report_build(&rep, f->st, se_script_rules(sc), &ro, &f->err), SE_OK);
	assert_int_equal(se_report_write(rep, mem, SE_OUTPUT_CSV, &f->err), SE_OK);
	fclose(mem);
	se_report_free(rep);
	se_script_free(sc);
	return out;
}

/* Each line of want is in the report of rules (conversion and unknown). */
static void expect_report_lines(fixture *f, const char *rules, const char *const *want)
{
	char *rep = report(f, rules, SE_REPORT_CONVERSION | SE_REPORT_UNKNOWN);

	for (; *want != NULL; want++)
		if (strstr(rep, *want) == NULL)
			fail_msg("report lacks\n%s\n--- report:\n%s", *want, rep);
	free(rep);
}

#define EXPECT_REPORT(f, rules, ...) expect_report_lines((f), (rules), (const char *const[]){ __VA_ARGS__, NULL })

/* ---- BlueSales: three daily dumps --------------------------------------------- */

#define BS_DAY1 \
	"bs:customer:101:new|101|2026-11-19T21:00:00Z|Новый||Анна Смирнова|Instagram||customers|\n" \
	"bs:customer:102:new|102|2026-11-24T21:00:00Z|Новый||Борис Орлов|||customers|\n" \
	"bs:customer:103:new|103|2026-11-25T21:00:00Z|Переговоры||Анна Смирнова|ВКонтакте||customers|\n"

static const char bs_all_events[] =
	"bs:customer:101:2026-11-26T21:00:00Z|101|2026-11-26T21:00:00Z|Переговоры|Новый|Анна Смирнова|Instagram||customers|\n"
	"bs:customer:101:2026-11-27T21:00:00Z|101|2026-11-27T21:00:00Z|Оплачен|Переговоры|Анна Смирнова|Instagram||customers|\n"
	"bs:customer:101:new|101|2026-11-19T21:00:00Z|Новый||Анна Смирнова|Instagram||customers|\n"
	"bs:customer:102:2026-11-27T21:00:00Z|102|2026-11-27T21:00:00Z|Отказ|Новый|Борис Орлов|||customers|\n"
	"bs:customer:102:new|102|2026-11-24T21:00:00Z|Новый||Борис Орлов|||customers|\n"
	"bs:customer:103:2026-11-27T21:00:00Z|103|2026-11-27T21:00:00Z|Оплачен|Переговоры|Анна Смирнова|ВКонтакте||customers|\n"
	"bs:customer:103:new|103|2026-11-25T21:00:00Z|Переговоры||Анна Смирнова|ВКонтакте||customers|\n"
	"bs:customer:104:2026-11-27T21:00:00Z|104|2026-11-27T21:00:00Z|Переговоры|Новый|Борис Орлов|Instagram||customers|\n"
	"bs:customer:104:new|104|2026-11-26T21:00:00Z|Новый||Борис Орлов|Instagram||customers|\n"
	"bs:customer:105:new|105|2026-11-26T21:00:00Z|Новый||Анна Смирнова|||customers|\n";

/* Day 1: three new customers enter at their first contact (Moscow dates).
 * Day 2 (T = 27.11 00:00 MSK): 101 moves, 102 stays, 103 is missing (no
 * event: its status stands), 104 is new, 105 has no status (rejected, the
 * rest imported).  Day 3: 101 and 104 move, 102 is lost, 103 is back at a
 * new status (a move from the one it had), 105 now enters.  Again: the
 * same dump changes nothing; an older one is refused. */
static void bluesales_three_dumps(void **state)
{
	fixture *f = *state;
	char *rep;

	in_fixtures("bluesales");
	ok(f, RUN(f, "bluesales", "customers_2026-11-26.json"));
	expect_stats(f, 3, 3, 3, 0, 0);
	expect_events(f, BS_DAY1);

	ok(f, RUN(f, "bluesales", "customers_2026-11-27.json"));
	expect_stats(f, 4, 3, 2, 0, 1);
	expect_rejects(f, "customers_2026-11-27.json:record 4: customer 105 has no status\n");
	expect_query(f, "SELECT key, value FROM adapter_state WHERE adapter = 'bluesales' ORDER BY key",
	             "customer:101|Переговоры\ncustomer:102|Новый\ncustomer:103|Переговоры\n"
	             "customer:104|Новый\nsnapshot|1795726800\n");

	ok(f, RUN(f, "bluesales", "customers_2026-11-28.json"));
	expect_stats(f, 5, 5, 5, 0, 0);
	expect_events(f, bs_all_events);

	/* The same dump again: every status is as stored, nothing to emit. */
	ok(f, RUN(f, "bluesales", "customers_2026-11-28.json"));
	expect_stats(f, 5, 0, 0, 0, 0);
	expect_events(f, bs_all_events);

	/* An older dump would turn history back: refused, nothing stored. */
	assert_int_equal(RUN(f, "bluesales", "customers_2026-11-27.json"), SE_ESCRIPT);
	assert_string_equal(f->err.msg,
	                    "customers_2026-11-27.json: this dump was taken at 2026-11-26T21:00:00Z,"
	                    " before the last one imported (2026-11-27T21:00:00Z): import dumps in"
	                    " the order they were taken");
	expect_events(f, bs_all_events);

	/* Conversions: 5 leads; 101, 103, 104 reached Переговоры; 101 and 103
	 * paid. */
	rep = report(f, "rules.lua", SE_REPORT_CONVERSION);
	assert_non_null(strstr(rep, "conversion,bluesales,Новый -> Переговоры,reached,all,team,*,Новый,Переговоры,5,3,60.0,0\n"));
	assert_non_null(strstr(rep, "conversion,bluesales,Переговоры -> Оплачен,reached,all,team,*,Переговоры,Оплачен,3,2,66.7,0\n"));
	assert_non_null(strstr(rep, "conversion,bluesales,Переговоры -> Оплачен,reached,all,manager,Анна Смирнова,Переговоры,Оплачен,2,2,100.0,0\n"));
	free(rep);
}

/* All three dumps in one run: the same history as three daily runs. */
static void bluesales_dumps_in_one_run(void **state)
{
	fixture *f = *state;

	in_fixtures("bluesales");
	ok(f, RUN(f, "bluesales", "customers_2026-11-26.json", "customers_2026-11-27.json",
	          "customers_2026-11-28.json"));
	expect_stats(f, 12, 11, 10, 0, 1);
	expect_events(f, bs_all_events);
}

/* A copy with missing_status set: a customer missing from a dump moves to
 * it at T, and moves on from it when it comes back. */
static void bluesales_missing_status(void **state)
{
	fixture *f = *state;
	char *src = NULL, *mark, path[256];
	size_t len;
	FILE *fp = fopen(SE_SOURCE_DIR "/scripts/importers/bluesales.lua", "rb");

	assert_non_null(fp);
	assert_int_equal(getdelim(&src, &len, '\0', fp) > 0, 1);
	fclose(fp);
	mark = strstr(src, "M.missing_status = nil");
	assert_non_null(mark);
	snprintf(path, sizeof path, "%s/my_bluesales.lua", f->dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fprintf(fp, "%.*sM.missing_status = \"Удалён в CRM\"%s", (int)(mark - src), src,
	        mark + strlen("M.missing_status = nil"));
	fclose(fp);
	free(src);

	in_fixtures("bluesales");
	ok(f, RUN(f, path, "customers_2026-11-26.json", "customers_2026-11-27.json"));
	expect_query(f, "SELECT event_id, ts, stage, from_stage FROM events WHERE stage = 'Удалён в CRM'",
	             "bs:customer:103:2026-11-26T21:00:00Z|2026-11-26T21:00:00Z|Удалён в CRM|Переговоры\n");
	ok(f, RUN(f, path, "customers_2026-11-28.json"));
	expect_query(f, "SELECT event_id, stage, from_stage FROM events WHERE deal_id = '103' ORDER BY ts",
	             "bs:customer:103:new|Переговоры|\n"
	             "bs:customer:103:2026-11-26T21:00:00Z|Удалён в CRM|Переговоры\n"
	             "bs:customer:103:2026-11-27T21:00:00Z|Оплачен|Удалён в CRM\n");
}

/* No date in the file name: --snapshot-time, or a message saying so. */
static void bluesales_snapshot_time(void **state)
{
	fixture *f = *state;
	char path[256];

	in_scratch(f);
	write_file("dump.json",
	           "{\"count\": 1, \"notReturnedCount\": 0, \"orders\": [{\"id\": 9, \"date\": \"01.12.2026\","
	           " \"orderStatus\": {\"id\": 1, \"name\": \"Новый\"}, \"totalSumMinusDiscount\": 1500.5,"
	           " \"manager\": {\"id\": 7, \"fullName\": \"Анна\", \"login\": \"anna\"},"
	           " \"customer\": {\"id\": 101, \"source\": {\"id\": 3, \"name\": \"Instagram\"}}}]}");
	assert_int_equal(RUN(f, "bluesales", "dump.json"), SE_ESCRIPT);
	assert_string_equal(f->err.msg, "dump.json: no snapshot time: put the dump's date in its file"
	                                " name (customers_2026-11-28.json) or pass --snapshot-time");
	f->opts.snapshot_time = "2026-12-02T09:00:00Z";
	ok(f, RUN(f, "bluesales", "dump.json"));
	expect_events(f, "bs:order:9:new|order:9|2026-11-30T21:00:00Z|Новый||Анна|Instagram|1500.5|orders|\n");
	snprintf(path, sizeof path, "%s/dump.json", f->dir);
	ok(f, RUN(f, "bluesales", path));
	expect_stats(f, 1, 0, 0, 0, 0);
	/* A DD.MM.YYYY date in the name: midnight Moscow time. */
	f->opts.snapshot_time = NULL;
	write_file("orders 03.12.2026.json",
	           "{\"orders\": [{\"id\": 9, \"date\": \"01.12.2026\", \"orderStatus\": {\"id\": 2,"
	           " \"name\": \"Оплачен\"}, \"totalSumMinusDiscount\": 1500.5}]}");
	ok(f, RUN(f, "bluesales", "orders 03.12.2026.json"));
	expect_query(f, EVENTS " LIMIT 1",
	             "bs:order:9:2026-12-02T21:00:00Z|order:9|2026-12-02T21:00:00Z|Оплачен|Новый|||1500.5|orders|\n");
}

/* ---- the other CRMs -------------------------------------------------------------- */

static void amocrm_events(void **state)
{
	fixture *f = *state;

	in_fixtures("amocrm");
	assert_int_equal(RUN(f, "amocrm", "pipelines.json", "users.json", "leads.json", "events.json"), SE_OK);
	expect_stats(f, 10, 7, 6, 0, 1);
	expect_rejects(f, "events.json:record 4: event 01pz58t6p2vxq4: no value_after[1].lead_status\n");
	expect_events(f,
		"amo:01pz58t6p2vxq1|3001|2026-11-18T13:53:20Z|Переговоры|Первичный контакт|Анна Смирнова|yandex|50000.0|Продажи|\n"
		"amo:01pz58t6p2vxq2|3001|2026-11-19T14:53:20Z|Успешно реализовано|Переговоры|Анна Смирнова|yandex|50000.0|Продажи|\n"
		"amo:01pz58t6p2vxq3|3002|2026-11-18T16:40:00Z|Переговоры|Неразобранное|Борис Орлов|Авито|12000.0|Продажи|\n"
		"amo:3001:created|3001|2026-11-18T11:06:40Z|Первичный контакт||Анна Смирнова|yandex|50000.0|Продажи|\n"
		"amo:3002:created|3002|2026-11-18T12:06:40Z|Неразобранное||Борис Орлов|Авито|12000.0|Продажи|\n"
		"amo:3003:created|3003|2026-11-18T13:06:40Z|Первичный контакт||user 9003||0.0|Продажи|\n");
	EXPECT_REPORT(f, "rules.lua",
		"conversion,amocrm,Первичный контакт -> Переговоры,reached,all,team,*,Первичный контакт,Переговоры,3,2,66.7,0\n",
		"conversion,amocrm,Переговоры -> Успешно реализовано,reached,all,team,*,Переговоры,Успешно реализовано,2,1,50.0,0\n");
	/* Again: all duplicates (the rejected event again rejected). */
	ok(f, RUN(f, "amocrm", "pipelines.json", "users.json", "leads.json", "events.json"));
	expect_stats(f, 10, 7, 0, 6, 1);
}

static void bitrix24_stage_history(void **state)
{
	fixture *f = *state;

	in_fixtures("bitrix24");
	ok(f, RUN(f, "bitrix24", "statuses.json", "users.json", "deals.json", "stagehistory.json"));
	expect_stats(f, 19, 7, 6, 0, 1);
	expect_rejects(f, "stagehistory.json:record 7: ts: cannot read time \"2026-13-06T19:00:00+03:00\":"
	                  " month out of range\n");
	expect_events(f,
		"b24:1001|201|2026-11-02T07:00:00Z|Новая||Анна Смирнова|Веб-сайт|150000.0|main|RUB\n"
		"b24:1002|201|2026-11-05T12:30:00Z|Подготовка документов||Анна Смирнова|Веб-сайт|150000.0|main|RUB\n"
		"b24:1003|201|2026-11-10T08:00:00Z|Сделка успешна||Анна Смирнова|Веб-сайт|150000.0|main|RUB\n"
		"b24:1004|202|2026-11-03T09:00:00Z|Новая (опт)||Борис Орлов|Звонок|9990.5|C1|RUB\n"
		"b24:1005|203|2026-11-04T06:00:00Z|Новая||user 9||0.0|main|RUB\n"
		"b24:1006|203|2026-11-06T15:45:00Z|Сделка провалена||user 9||0.0|main|RUB\n");
	/* The rules' funnel is the main pipeline: the C1 deal is not in it. */
	EXPECT_REPORT(f, "rules.lua",
		"conversion,bitrix24,Новая -> Подготовка документов,reached,all,team,*,Новая,Подготовка документов,2,1,50.0,0\n",
		"conversion,bitrix24,Подготовка документов -> Сделка успешна,reached,all,team,*,Подготовка документов,Сделка успешна,1,1,100.0,0\n",
		"unknown,Новая (опт),1,1,202\n");
}

static void pipedrive_flow(void **state)
{
	fixture *f = *state;

	in_fixtures("pipedrive");
	ok(f, RUN(f, "pipedrive", "stages.json", "deals.json", "flow.jsonl"));
	expect_stats(f, 12, 9, 8, 0, 1);
	expect_rejects(f, "flow.jsonl:record 6: line 3, column 90: unexpected end of the text\n");
	expect_events(f,
		"pd:41:added|41|2026-11-02T08:00:00Z|Qualified||Jane Roe||12000.0|Sales|EUR\n"
		"pd:41:won|41|2026-11-09T16:00:00Z|Won||Jane Roe||12000.0|Sales|EUR\n"
		"pd:42:added|42|2026-11-03T09:00:00Z|Qualified||John Doe||5000.0|Sales|EUR\n"
		"pd:42:lost|42|2026-11-07T10:00:00Z|Lost||John Doe||5000.0|Sales|EUR\n"
		"pd:43:added|43|2026-11-04T10:00:00Z|Qualified||user 502||800.0|Sales|EUR\n"
		"pd:9001|41|2026-11-05T12:00:00Z|Contact Made|Qualified|Jane Roe||12000.0|Sales|EUR\n"
		"pd:9002|41|2026-11-08T14:00:00Z|Proposal Made|Contact Made|Jane Roe||12000.0|Sales|EUR\n"
		"pd:9004|42|2026-11-04T10:00:00Z|Contact Made|Qualified|John Doe||5000.0|Sales|EUR\n");
	EXPECT_REPORT(f, "rules.lua",
		"conversion,pipedrive,Qualified -> Contact Made,reached,all,team,*,Qualified,Contact Made,3,2,66.7,0\n",
		"conversion,pipedrive,Proposal Made -> Won,reached,all,team,*,Proposal Made,Won,1,1,100.0,0\n");
}

static void hubspot_history_and_export(void **state)
{
	fixture *f = *state;

	in_fixtures("hubspot");
	ok(f, RUN(f, "hubspot", "owners.json", "deals.json"));
	expect_stats(f, 5, 6, 5, 0, 1);
	expect_rejects(f, "deals.json:record 3: deal 7003 has no propertiesWithHistory.dealstage\n");
	ok(f, RUN(f, "hubspot", "deals_export.csv"));
	expect_stats(f, 3, 6, 5, 0, 1);
	expect_rejects(f, "deals_export.csv:4: ts: cannot read time \"2026-11-31 10:00\": day out of range for month\n");
	expect_events(f,
		"hs:7001:appointmentscheduled:2026-11-02T09:00:00.000Z|7001|2026-11-02T09:00:00Z|Appointment Scheduled||Jane Roe|ORGANIC_SEARCH|25000.0||\n"
		"hs:7001:closedwon:2026-11-12T15:00:00.000Z|7001|2026-11-12T15:00:00Z|Closed Won||Jane Roe|ORGANIC_SEARCH|25000.0||\n"
		"hs:7001:presentationscheduled:2026-11-06T11:30:00.250Z|7001|2026-11-06T11:30:00Z|Presentation Scheduled||Jane Roe|ORGANIC_SEARCH|25000.0||\n"
		"hs:7002:appointmentscheduled:2026-11-03T10:00:00.000Z|7002|2026-11-03T10:00:00Z|Appointment Scheduled||owner 399|PAID_SEARCH|||\n"
		"hs:7002:qualifiedtobuy:2026-11-08T10:00:00.000Z|7002|2026-11-08T10:00:00Z|Qualified To Buy||owner 399|PAID_SEARCH|||\n"
		"hs:7101:appointmentscheduled:entered|7101|2026-11-04T10:00:00Z|Appointment Scheduled||owner 302|DIRECT_TRAFFIC|4000.0||\n"
		"hs:7101:closedlost:entered|7101|2026-11-12T16:13:20Z|Closed Lost||owner 302|DIRECT_TRAFFIC|4000.0||\n"
		"hs:7101:qualifiedtobuy:entered|7101|2026-11-05T10:00:00Z|Qualified To Buy||owner 302|DIRECT_TRAFFIC|4000.0||\n"
		"hs:7102:appointmentscheduled:entered|7102|2026-11-06T09:15:00Z|Appointment Scheduled||owner 301||||\n"
		"hs:7103:qualifiedtobuy:entered|7103|2026-11-07T10:00:00Z|Qualified To Buy||owner 301|SOCIAL_MEDIA|100.0||\n");
	EXPECT_REPORT(f, "rules.lua",
		"conversion,hubspot,Appointment Scheduled -> Qualified To Buy,reached,all,team,*,Appointment Scheduled,Qualified To Buy,5,4,80.0,0\n",
		"conversion,hubspot,Presentation Scheduled -> Closed Won,reached,all,team,*,Presentation Scheduled,Closed Won,1,1,100.0,0\n");
}

static void wide_export(void **state)
{
	fixture *f = *state;

	in_fixtures("wide");
	ok(f, RUN(f, "wide", "sales_pipeline.csv"));
	expect_stats(f, 5, 7, 6, 0, 1);
	expect_rejects(f, "sales_pipeline.csv:5: ts: cannot read time \"2017-02-30\": day out of range for month\n");
	expect_events(f,
		"1C1I7A6R-1|1C1I7A6R|2016-10-20T00:00:00Z|Engaging||Moses Frase|GTX Plus Basic|1054.0||\n"
		"1C1I7A6R-2|1C1I7A6R|2017-03-01T00:00:00Z|Won||Moses Frase|GTX Plus Basic|1054.0||\n"
		"BADDATE1-1|BADDATE1|2016-11-01T00:00:00Z|Engaging||Zane Levy|GTK 500|500.0||\n"
		"HAXMC4IX-1|HAXMC4IX|2016-10-25T00:00:00Z|Engaging||Zane Levy|MG Advanced|0.0||\n"
		"HAXMC4IX-2|HAXMC4IX|2016-10-25T00:00:00Z|Lost||Zane Levy|MG Advanced|0.0||\n"
		"ZZZZZZZ1-1|ZZZZZZZ1|2017-03-01T00:00:00Z|Engaging||Anna Snelling|GTK 500|||\n");
}

static void two_table_join(void **state)
{
	fixture *f = *state;

	in_fixtures("two_table");
	ok(f, RUN(f, "two_table", "leads.csv", "won_deals.csv"));
	expect_stats(f, 6, 6, 5, 0, 1);
	expect_rejects(f, "won_deals.csv:4: deal ffff: no lead ffff in the leads file\n");
	expect_events(f,
		"aaaa:lead|aaaa|2018-02-01T00:00:00Z|Lead|||social|||\n"
		"aaaa:won|aaaa|2018-02-26T19:58:54Z|Won||sr1||||\n"
		"bbbb:lead|bbbb|2017-10-20T00:00:00Z|Lead|||paid_search|||\n"
		"cccc:lead|cccc|2018-03-10T00:00:00Z|Lead||||||\n"
		"cccc:won|cccc|2018-03-08T12:00:00Z|Won||sr2||||\n");
}

/* ---- encodings ------------------------------------------------------------------- */

/* A cp1251 export with ';' and DD.MM.YYYY dates: refused as UTF-8 with a
 * hint, imported with the encoding named. */
static void cp1251_export(void **state)
{
	fixture *f = *state;
	/* "Сделка;Менеджер;Этап;Дата\r\n7;Иванов;Новая;01.12.2026 10:30:00\r\n" in cp1251 */
	static const char cp1251[] =
		"\xd1\xe4\xe5\xeb\xea\xe0;\xcc\xe5\xed\xe5\xe4\xe6\xe5\xf0;\xdd\xf2\xe0\xef;\xc4\xe0\xf2\xe0\r\n"
		"7;\xc8\xe2\xe0\xed\xee\xe2;\xcd\xee\xe2\xe0\xff;01.12.2026 10:30:00\r\n";
	FILE *fp;

	in_scratch(f);
	fp = fopen("export.csv", "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(cp1251, 1, sizeof cp1251 - 1, fp), sizeof cp1251 - 1);
	fclose(fp);
	write_file("ru.lua",
	           "return { record = function(r, emit)\n"
	           "  emit { event_id = r['Сделка'] .. ':' .. r['Этап'], deal_id = r['Сделка'],\n"
	           "         ts = r['Дата'], stage = r['Этап'], manager = r['Менеджер'] }\n"
	           "end }\n");
	assert_int_equal(RUN(f, "./ru.lua", "export.csv"), SE_EINPUT);
	assert_string_equal(f->err.msg, "export.csv:1: not valid UTF-8 (byte 1 of the file); if it is a"
	                                " Windows export, try --encoding cp1251");
	f->opts.encoding = "cp1251";
	ok(f, RUN(f, "./ru.lua", "export.csv"));
	expect_events(f, "7:Новая|7|2026-12-01T10:30:00Z|Новая||Иванов||||\n");
	f->opts.encoding = "no-such-encoding";
	assert_int_equal(RUN(f, "./ru.lua", "export.csv"), SE_EUSAGE);
	assert_string_equal(f->err.msg, "export.csv: unknown encoding 'no-such-encoding' (try cp1251)");
}

/* UTF-8 with a BOM: the first header name is clean. */
static void bom_stripped(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("bom.csv", "\xEF\xBB\xBFid;stage;ts\n1;Новая;2026-12-01\n");
	write_file("a.lua", "return { record = function(r, emit)\n"
	                    "  emit { event_id = r.id, deal_id = r.id, ts = r.ts, stage = r.stage }\n"
	                    "end }\n");
	ok(f, RUN(f, "./a.lua", "bom.csv"));
	expect_events(f, "1|1|2026-12-01T00:00:00Z|Новая||||||\n");
}

/* ---- the runtime ------------------------------------------------------------------- */

/* A runtime error names the adapter's line and the record; the other
 * records are imported. */
static void runtime_error_names_line_and_record(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("recs.json", "[{\"id\": 1}, {\"id\": 2, \"boom\": true}, {\"id\": 3}]");
	write_file("a.lua", "local M = {}\n"
	                    "function M.record(r, emit)\n"
	                    "  if r.boom then local x = nil; return x.field end\n"
	                    "  emit { event_id = 'e' .. r.id, deal_id = 'd', ts = 1795000000 + r.id, stage = 'S' }\n"
	                    "end\n"
	                    "return M\n");
	ok(f, RUN(f, "./a.lua", "recs.json"));
	expect_stats(f, 3, 3, 2, 0, 1);
	expect_rejects(f, "recs.json:record 2: ./a.lua:3: attempt to index a nil value (local 'x')\n");
}

/* A record that is not an object is rejected before the adapter sees it,
 * saying what it is; the objects around it still import. */
static void non_object_records_rejected(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("recs.json", "[{\"id\": 1}, 5, [2], null, {\"id\": 3}]");
	write_file("a.lua", "return { record = function(r, emit)\n"
	                    "  emit { event_id = 'e' .. r.id, deal_id = 'd', ts = 1795000000 + r.id, stage = 'S' }\n"
	                    "end }\n");
	ok(f, RUN(f, "./a.lua", "recs.json"));
	expect_stats(f, 5, 5, 2, 0, 3);
	expect_rejects(f, "recs.json:record 2: a number, not a JSON object\n"
	                  "recs.json:record 3: an array, not a JSON object\n"
	                  "recs.json:record 4: null, not a JSON object\n");
}

static void emit_checks_its_table(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("recs.json", "[{\"k\": 1}, {\"k\": 2}, {\"k\": 3}, {\"k\": 4}, {\"k\": 5}]");
	write_file("a.lua", "return { record = function(r, emit)\n"
	                    "  if r.k == 1 then emit { event_id = 'e', deal_id = 'd', ts = 0, stge = 'S' } end\n"
	                    "  if r.k == 2 then emit { event_id = 'e', deal_id = 'd', ts = {}, stage = 'S' } end\n"
	                    "  if r.k == 3 then assert(emit { event_id = 'e', deal_id = 'd', ts = 'x', stage = 'S' } == false) end\n"
	                    "  if r.k == 4 then assert(emit { event_id = 'e4', deal_id = 'd', ts = 1795000000.0, amount = 10.25, stage = 'S' }) end\n"
	                    /* a float far outside an integer's range (once cast to one first) */
	                    "  if r.k == 5 then emit { event_id = 'e5', deal_id = 'd', ts = 1795000000, amount = 1e124, stage = 'S' } end\n"
	                    "end }\n");
	ok(f, RUN(f, "./a.lua", "recs.json"));
	expect_stats(f, 5, 5, 1, 0, 4);
	expect_rejects(f,
		"recs.json:record 1: ./a.lua:2: emit: unknown key 'stge' (did you mean 'stage'?)\n"
		"recs.json:record 2: ./a.lua:3: emit: 'ts' must be a string or a number, not a table\n"
		"recs.json:record 3: ts: cannot read time \"x\": unrecognised time format\n"
		"recs.json:record 5: amount: \"1e+124\" is beyond the largest amount, 1000000000000000 (10^15) either way\n");
	expect_events(f, "e4|d|2026-11-18T11:06:40Z|S||||10.25||\n");
}

static void sandbox_and_limits(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("recs.json", "[{}]");
	write_file("io.lua", "return { record = function() io.open('/etc/passwd') end }\n");
	ok(f, RUN(f, "./io.lua", "recs.json"));
	expect_rejects(f, "recs.json:record 1: ./io.lua:1: io.open is not available in salesengine scripts (sandbox)\n");
	write_file("decl.lua", "return { record = function() funnel {} end }\n");
	ok(f, RUN(f, "./decl.lua", "recs.json"));
	expect_rejects(f, "recs.json:record 1: ./decl.lua:1: undefined global 'funnel'\n");
	write_file("cols.lua", "return { record = function() columns {} end }\n");
	ok(f, RUN(f, "./cols.lua", "recs.json"));
	expect_rejects(f, "recs.json:record 1: ./cols.lua:1: undefined global 'columns'\n");
	/* A limit stops the import: its batch, events and state, is undone. */
	write_file("many.json", "[{\"n\": 1}, {\"n\": 2}, {\"n\": 3}]");
	write_file("loop.lua", "return { record = function(r, emit, ctx)\n"
	                       "  ctx.state_set('n' .. r.n, 'x')\n"
	                       "  emit { event_id = 'l' .. r.n, deal_id = 'd', ts = 1795000000, stage = 'S' }\n"
	                       "  if r.n == 3 then while true do end end\n"
	                       "end }\n");
	f->limits.instructions = 100000;
	assert_int_equal(RUN(f, "./loop.lua", "many.json"), SE_ELIMIT);
	assert_string_equal(f->err.msg, "./loop.lua:4: instruction limit (100000) exceeded: endless loop?");
	expect_events(f, "");
	/* Even the state table, created by that transaction, is gone. */
	expect_query(f, "SELECT count(*) FROM sqlite_master WHERE name = 'adapter_state'", "0\n");
}

/* Work inside C stops an adapter within its budget, with its line; a
 * finalizer is refused (it would run where no limit reaches, also while
 * the state closes after the import). */
static void c_work_and_finalizers(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("recs.json", "[{\"n\": 1}, {\"n\": 2}]");
	f->limits.instructions = 5000000;
	write_file("find.lua", "return { record = function(r, emit)\n"
	                       "  if r.n == 2 then string.find(string.rep('a', 200000), '.-.-.-.-.-b') end\n"
	                       "end }\n");
	assert_int_equal(RUN(f, "./find.lua", "recs.json"), SE_ELIMIT);
	assert_string_equal(f->err.msg, "./find.lua:2: instruction limit (5000000) exceeded in string.find");
	write_file("move.lua", "table.move({}, 1, 2^62, 1)\nreturn { record = function() end }\n");
	assert_int_equal(RUN(f, "./move.lua", "recs.json"), SE_ELIMIT);
	assert_string_equal(f->err.msg, "./move.lua:1: instruction limit (5000000) exceeded in table.move");
	write_file("gc.lua", "return { record = function(r, emit)\n"
	                     "  setmetatable({}, { __gc = function() while true do end end })\n"
	                     "  emit { event_id = 'g' .. r.n, deal_id = 'd', ts = 1795000000, stage = 'S' }\n"
	                     "end }\n");
	ok(f, RUN(f, "./gc.lua", "recs.json"));
	expect_rejects(f, "recs.json:record 1: ./gc.lua:2: setmetatable: __gc finalizers are not "
	                  "available in salesengine scripts (sandbox)\n"
	                  "recs.json:record 2: ./gc.lua:2: setmetatable: __gc finalizers are not "
	                  "available in salesengine scripts (sandbox)\n");
}

static void bad_adapters(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("recs.json", "[{}]");
	assert_int_equal(RUN(f, "no_such_crm", "recs.json"), SE_EUSAGE);
	assert_string_equal(f->err.msg, "unknown adapter 'no_such_crm' (bundled: amocrm, bitrix24,"
	                                " bluesales, hubspot, pipedrive, two_table, wide; or give the"
	                                " path of a .lua file)");
	write_file("notable.lua", "return 42\n");
	assert_int_equal(RUN(f, "./notable.lua", "recs.json"), SE_ESCRIPT);
	assert_string_equal(f->err.msg, "./notable.lua: an adapter must return a table with a function"
	                                " record(rec, emit, ctx)");
	write_file("badtype.lua", "return { name = 'x', records = 'r', timezone = 3, record = function() end }\n");
	assert_int_equal(RUN(f, "./badtype.lua", "recs.json"), SE_ESCRIPT);
	assert_string_equal(f->err.msg, "./badtype.lua: the adapter's 'timezone' must be a string, not a number");
	write_file("norecord.lua", "return { finish = function() end }\n");
	assert_int_equal(RUN(f, "./norecord.lua", "recs.json"), SE_ESCRIPT);
	assert_string_equal(f->err.msg, "./norecord.lua: the adapter's 'record' must be a function, not a nil");
	write_file("syntax.lua", "return {\n record = function( end }\n");
	assert_int_equal(RUN(f, "./syntax.lua", "recs.json"), SE_ESCRIPT);
	assert_string_equal(f->err.msg, "./syntax.lua:2: <name> or '...' expected near 'end'");
	write_file("ok.lua", "return { records = 'customers', record = function() end }\n");
	assert_int_equal(RUN(f, "./ok.lua", "recs.json"), SE_EINPUT);
	assert_string_equal(f->err.msg, "recs.json: no \"customers\" in the document (the adapter reads its records there)");
	write_file("broken.json", "{\"customers\": [1, 2,]}");
	assert_int_equal(RUN(f, "./ok.lua", "broken.json"), SE_EINPUT);
	assert_string_equal(f->err.msg, "broken.json: line 1, column 21: unexpected token near ']'");
}

/* Ids are identifiers: integers beyond 64 bits keep their exact digits
 * (as strings), in a document and in JSON Lines alike; those that fit stay
 * integers. */
static void big_json_ids_kept_exact(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("ids.json", "[{\"id\": 18446744073709551614}, {\"id\": 18446744073709551615},"
	                       " {\"id\": 9223372036854775807}, {\"id\": -9223372036854775809},"
	                       " {\"id\": 123456789012345678901234567890}, {\"id\": 7}]");
	write_file("ids.jsonl", "{\"id\": 18446744073709551614}\n{\"id\": 18446744073709551616}\n");
	write_file("a.lua", "return { record = function(r, emit)\n"
	                    "  emit { event_id = math.type(r.id) or type(r.id), deal_id = tostring(r.id),"
	                    " ts = 1795000000, stage = 'S' }\n"
	                    "end }\n");
	ok(f, RUN(f, "./a.lua", "ids.json"));
	expect_stats(f, 6, 6, 2, 4, 0);
	write_file("a.lua", "return { record = function(r, emit)\n"
	                    "  emit { event_id = tostring(r.id), deal_id = math.type(r.id) or type(r.id),"
	                    " ts = 1795000000, stage = 'S' }\n"
	                    "end }\n");
	ok(f, RUN(f, "./a.lua", "ids.json", "ids.jsonl"));
	expect_stats(f, 8, 8, 7, 1, 0);
	expect_query(f, "SELECT event_id, deal_id FROM events WHERE event_id NOT IN ('string', 'integer')"
	             " ORDER BY event_id",
	             "-9223372036854775809|string\n"
	             "123456789012345678901234567890|string\n"
	             "18446744073709551614|string\n"
	             "18446744073709551615|string\n"
	             "18446744073709551616|string\n"
	             "7|integer\n"
	             "9223372036854775807|integer\n");
}

/* A document is read in pieces: records at the path in any shape, a
 * character cut by a chunk's end, a duplicate key costing its record
 * only, and a syntax error near the end importing nothing. */
static void json_read_as_stream(void **state)
{
	fixture *f = *state;
	FILE *fp;
	long n = 0;
	char want[64];

	in_scratch(f);
	write_file("a.lua", "return { records = 'result.items|result', record = function(r, emit)\n"
	                    "  emit { event_id = tostring(r.ID), deal_id = 'd', ts = 1795000000, stage = r.S }\n"
	                    "end }\n");
	write_file("items.json", "{\"total\": 2, \"result\": {\"next\": 2, \"items\": [{\"ID\": 1, \"S\": \"a\"},"
	                         " {\"ID\": 2, \"S\": \"b\", \"S\": \"c\"}, {\"ID\": 3, \"S\": \"d\"}]}}");
	ok(f, RUN(f, "./a.lua", "items.json"));
	expect_stats(f, 3, 3, 2, 0, 1);
	expect_rejects(f, "items.json:record 2: duplicate object key 'S'\n");
	write_file("list.json", "{\"result\": [{\"ID\": 4, \"S\": \"e\"}], \"time\": {\"start\": 1}}");
	ok(f, RUN(f, "./a.lua", "list.json"));
	expect_stats(f, 1, 1, 1, 0, 0);
	write_file("wrong.json", "{\"result\": {\"items\": {\"ID\": 5}}}");
	assert_int_equal(RUN(f, "./a.lua", "wrong.json"), SE_EINPUT);
	assert_string_equal(f->err.msg, "wrong.json: \"result.items|result\" is an object, not a list of records");
	/* Many chunks: Cyrillic stages across every chunk boundary, then a
	 * syntax error on the last line: nothing of the file is imported. */
	fp = fopen("big.json", "wb");
	assert_non_null(fp);
	fputs("{\"result\": [", fp);
	while (ftell(fp) < 300000) {
		fprintf(fp, "%s{\"ID\": %ld, \"S\": \"Этап\"}\n", n ? "," : "", 100 + n);
		n++;
	}
	fputs("]}", fp);
	assert_int_equal(fclose(fp), 0);
	ok(f, RUN(f, "./a.lua", "big.json"));
	expect_stats(f, n, n, n, 0, 0);
	snprintf(want, sizeof want, "%ld|100|%ld\n", n, 99 + n);
	expect_query(f, "SELECT count(*), min(CAST(event_id AS INTEGER)), max(CAST(event_id AS INTEGER))"
	             " FROM events WHERE stage = 'Этап'", want);
	fp = fopen("big.json", "ab");
	assert_non_null(fp);
	fputs("\n,", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(RUN(f, "./a.lua", "big.json"), SE_EINPUT);
	expect_stats(f, 0, 0, 0, 0, 0);
}

/* What start and finish emit, and their errors, are named by the hook. */
static void hooks_name_their_place(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("recs.json", "[{}]");
	write_file("h.lua", "local M = {}\n"
	                    "function M.start(ctx) end\n"
	                    "function M.record(r, emit) end\n"
	                    "function M.finish(emit, ctx)\n"
	                    "  emit { event_id = 'f', deal_id = 'd', ts = 'soon', stage = 'S' }\n"
	                    "  error('done badly')\n"
	                    "end\n"
	                    "return M\n");
	ok(f, RUN(f, "./h.lua", "recs.json"));
	expect_stats(f, 1, 2, 0, 0, 2);
	expect_rejects(f, "recs.json:finish: ts: cannot read time \"soon\": unrecognised time format\n"
	                  "recs.json:finish: ./h.lua:6: done badly\n");
	write_file("s.lua", "return { start = function() error('no way', 0) end, record = function() end }\n");
	assert_int_equal(RUN(f, "./s.lua", "recs.json"), SE_ESCRIPT);
	assert_string_equal(f->err.msg, "recs.json: no way");
}

/* State is per adapter name, listed by prefix, deleted with nil. */
static void state_api(void **state)
{
	fixture *f = *state;

	in_scratch(f);
	write_file("recs.json", "[{}]");
	write_file("s.lua", "return { name = 'mine', record = function(r, emit, ctx)\n"
	                    "  ctx.state_set('a:2', 'two'); ctx.state_set('a:1', 1); ctx.state_set('b', 'x')\n"
	                    "  ctx.state_set('b', nil)\n"
	                    "  local k = ctx.state_keys('a:')\n"
	                    "  assert(#k == 2 and k[1] == 'a:1' and k[2] == 'a:2', 'keys')\n"
	                    "  assert(ctx.state_get('a:1') == '1' and ctx.state_get('b') == nil, 'get')\n"
	                    "end }\n");
	ok(f, RUN(f, "./s.lua", "recs.json"));
	expect_stats(f, 1, 0, 0, 0, 0);
	expect_query(f, "SELECT adapter, key, value FROM adapter_state ORDER BY key", "mine|a:1|1\nmine|a:2|two\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bluesales_three_dumps, setup, teardown),
		cmocka_unit_test_setup_teardown(bluesales_dumps_in_one_run, setup, teardown),
		cmocka_unit_test_setup_teardown(bluesales_missing_status, setup, teardown),
		cmocka_unit_test_setup_teardown(bluesales_snapshot_time, setup, teardown),
		cmocka_unit_test_setup_teardown(amocrm_events, setup, teardown),
		cmocka_unit_test_setup_teardown(bitrix24_stage_history, setup, teardown),
		cmocka_unit_test_setup_teardown(pipedrive_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(hubspot_history_and_export, setup, teardown),
		cmocka_unit_test_setup_teardown(wide_export, setup, teardown),
		cmocka_unit_test_setup_teardown(two_table_join, setup, teardown),
		cmocka_unit_test_setup_teardown(cp1251_export, setup, teardown),
		cmocka_unit_test_setup_teardown(bom_stripped, setup, teardown),
		cmocka_unit_test_setup_teardown(runtime_error_names_line_and_record, setup, teardown),
		cmocka_unit_test_setup_teardown(non_object_records_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(emit_checks_its_table, setup, teardown),
		cmocka_unit_test_setup_teardown(sandbox_and_limits, setup, teardown),
cmocka_unit_test_setup_teardown(c_work_and_finalizers, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_adapters, setup, teardown),
		cmocka_unit_test_setup_teardown(big_json_ids_kept_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(json_read_as_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(hooks_name_their_place, setup, teardown),
		cmocka_unit_test_setup_teardown(state_api, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
