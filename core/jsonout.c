/*
 * jsonout.c: JSON strings and numbers as text (jsonout.h).
 */
#include "jsonout.h"

#include <stdlib.h>

void se_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p == '\r')
			fputs("\\r", out);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void se_json_number(FILE *out, double d)
{
	/* %.17g round-trips; trim it for amounts that are whole or in kopecks. */
	char buf[40];

	snprintf(buf, sizeof buf, "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, sizeof buf, "%.17g", d);
	fputs(buf, out);
}
