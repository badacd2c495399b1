/*
 * dynlib.c: a shared library loaded when first needed (dynlib.h).
 */
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* dlsym's object pointer copied into a function pointer: POSIX guarantees
 * the conversion, and the copy keeps ISO C's rule about converting
 * between the two out of the way. */
static int resolve(se_dynlib *lib, void *handle, const se_dynlib_sym *s)
{
	void *p = dlsym(handle, s->name);

	if (p == NULL) {
		snprintf(lib->why, sizeof lib->why, "%s has no %s", lib->soname, s->name);
		return 0;
	}
	memcpy(s->fn, &p, sizeof p);
	return 1;
}

int se_dynlib_load(se_dynlib *lib, const se_dynlib_sym *syms, size_t n)
{
	int state;

	pthread_mutex_lock(&lib->lock);
	if (lib->state == 0) {
		void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
		size_t i = 0;

		if (handle == NULL) {
			const char *e = dlerror();

			snprintf(lib->why, sizeof lib->why, "%s", e != NULL ? e : lib->soname);
		} else {
			while (i < n && resolve(lib, handle, &syms[i]))
				i++;
		}
		lib->state = handle != NULL && i == n ? 1 : -1;
	}
	state = lib->state;
	pthread_mutex_unlock(&lib->lock);
	return state == 1;
}
