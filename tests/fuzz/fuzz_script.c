/*
 * fuzz_script.c: any bytes as a rules script, loaded through the sandbox
 * (se_script_load) with tight limits.  Whatever the script does, loading
 * must end with rules or an error message, never a crash or an escape.
 */
#include "salesengine.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	se_script_limits limits = { .instructions = 200000, .memory = 8u << 20 };
	se_script *sc = NULL;
	se_error err = { 0 };
	const char *path = fuzz_write("rules.lua", data, size);
	int rc = se_script_load(&sc, path, &limits, &err);

	if (rc == SE_OK) {
		if (sc == NULL || se_script_rules(sc) == NULL)
			abort();
		se_script_free(sc);
	} else if (err.msg[0] == '\0') {
		abort(); /* every failure says why */
	}
	return 0;
}
