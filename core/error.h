/*
 * error.h: the caller-owned error object every module reports through.
 *
 * Functions return 0 on success and a negative SE_E* code on failure; the
 * human-readable message goes into an se_error the caller owns, so no module
 * ever prints on its own or calls exit().  The type itself is public (see
 * include/salesengine.h); this header adds the helpers modules use to fill it.
 */
#ifndef SE_ERROR_H
#define SE_ERROR_H

#include "salesengine.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define SE_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SE_PRINTF(fmt, args)
#endif

/* Sets err->code and formats err->msg (truncated to fit); returns code so a
 * caller can write `return se_error_set(err, SE_EINPUT, "...")`.  err may be
 * NULL, in which case only the code is returned. */
int se_error_set(se_error *err, int code, const char *fmt, ...) SE_PRINTF(3, 4);
int se_error_setv(se_error *err, int code, const char *fmt, va_list ap);

/* Puts "prefix: " in front of the message already in err (used when a lower
 * layer knows the reason and the upper one knows the file or the rule). */
void se_error_prefix(se_error *err, const char *fmt, ...) SE_PRINTF(2, 3);

void se_error_clear(se_error *err);

#endif
