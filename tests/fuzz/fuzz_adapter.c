/*
 * fuzz_adapter.c: the bundled import adapters, each input file of each, on
 * any bytes, through the public se_import_with() (the adapter API, not the
 * Lua host's insides).  The first byte picks the adapter and which of its
 * input files is replaced by the rest of the input; the others are the
 * fixtures of tests/fixtures/importers, so the fuzzed file meets the data
 * it expects beside it.  Tight script limits: a slow adapter call is the
 * limit's business, not a hang.
 */
#include "salesengine.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	const char *adapter;
	const char *dir;
	const char *files[4];
} adapters[] = {
	{ "amocrm", "amocrm", { "pipelines.json", "users.json", "leads.json", "events.json" } },
	{ "bitrix24", "bitrix24", { "statuses.json", "users.json", "deals.json", "stagehistory.json" } },
	{ "bluesales", "bluesales", { "customers_2026-11-26.json" } },
	{ "hubspot", "hubspot", { "owners.json", "deals.json" } },
	{ "hubspot", "hubspot", { "deals_export.csv" } },
	{ "pipedrive", "pipedrive", { "stages.json", "deals.json", "flow.jsonl" } },
	{ "two_table", "two_table", { "leads.csv", "won_deals.csv" } },
	{ "wide", "wide", { "sales_pipeline.csv" } },
};
#define N_ADAPTERS (sizeof adapters / sizeof adapters[0])

static se_store *store;
static int runs;

static int count_files(size_t a)
{
	int n = 0;

	while (n < 4 && adapters[a].files[n] != NULL)
		n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	se_import_opts opts = { .snapshot_time = "2026-11-26T12:00:00Z" };
	se_script_limits limits = { .instructions = 2000000, .memory = 16u << 20 };
	se_import_stats stats;
	se_error err = { 0 };
	char db[256], paths[4][512];
	const char *files[4];
	size_t a;
	int n, slot;

	if (size == 0)
		return 0;
	a = data[0] % N_ADAPTERS;
	n = count_files(a);
	slot = (data[0] / N_ADAPTERS) % n;
	for (int i = 0; i < n; i++) {
		if (i == slot) {
			snprintf(paths[i], sizeof paths[i], "%s", fuzz_write(adapters[a].files[i], data + 1, size - 1));
		} else {
			snprintf(paths[i], sizeof paths[i], "%s/tests/fixtures/importers/%s/%s", SE_SOURCE_DIR,
			         adapters[a].dir, adapters[a].files[i]);
		}
		files[i] = paths[i];
	}
	snprintf(db, sizeof db, "%s/adapter.db", fuzz_dir());
	if (store != NULL && ++runs % 200 == 0) {
		se_store_close(store);
		store = NULL;
		unlink(db);
	}
	if (store == NULL && se_store_open(&store, db, 0, &err) != SE_OK)
		abort();
	if (se_import_with(store, adapters[a].adapter, files, n, &opts, &limits, &stats, &err) == SE_OK &&
	    stats.read != stats.imported + stats.duplicates + stats.rejected)
		abort();
	/* An adapter that cannot be found fuzzes nothing: stop loudly. */
	if (err.code != SE_OK && strstr(err.msg, "adapter") != NULL && strstr(err.msg, "no bundled") != NULL)
		abort();
	return 0;
}
