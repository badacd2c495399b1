/*
 * dynlib.h: a shared library loaded when first needed, not linked.
 *
 * Owns: opening a library by its soname once per process, resolving a
 * table of its functions into the caller's pointers, and remembering why
 * it failed, so each later call gets the same answer without trying again.
 * libcurl (sync/http.c) and libxlsxwriter (format/write_xlsx.c) come this
 * way: linked, they and the thirty libraries they need cost every run
 * about 14 ms to map and relocate, a tenth of a report on a million deals,
 * and only --sync and --format xlsx use them.
 *
 * Never: unloads a library (a half-resolved one stays mapped, unused), or
 * calls into it: an init function is the caller's to run.
 */
#ifndef SE_DYNLIB_H
#define SE_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

/* One function to resolve: its name, and the address of the caller's
 * function pointer that receives it. */
typedef struct se_dynlib_sym {
	const char *name;
	void *fn;
} se_dynlib_sym;

typedef struct se_dynlib {
	const char *soname;
	pthread_mutex_t lock;
	int state;               /* 0 not tried, 1 loaded, -1 failed */
	char why[256];           /* when state is -1 */
} se_dynlib;

#define SE_DYNLIB_INIT(soname) { (soname), PTHREAD_MUTEX_INITIALIZER, 0, "" }

/* 1 when every symbol of syms[0..n) is resolved (now or by an earlier
 * call), else 0 with lib->why saying what was missing.  Thread-safe. */
int se_dynlib_load(se_dynlib *lib, const se_dynlib_sym *syms, size_t n);

#endif
