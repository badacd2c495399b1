/*
 * error.c: filling the caller-owned se_error.  Messages are truncated, never
 * overflowed; a NULL err is allowed everywhere so helpers can be reused where
 * nobody wants the text.
 */
#include "error.h"

#include <stdio.h>
#include <string.h>

int se_error_setv(se_error *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	return code;
}

int se_error_set(se_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	se_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void se_error_prefix(se_error *err, const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof err->msg];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	/* Truncation is fine here (the message just gets cut), and using the
	 * result tells the compiler it was considered. */
	if (snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old) < 0)
		err->msg[0] = '\0';
}

void se_error_clear(se_error *err)
{
	if (err == NULL)
		return;
	err->code = SE_OK;
	err->msg[0] = '\0';
}
