/*
 * jsonout.h: writing JSON text, for the report formats and the alert
 * lines alike (below both, so neither depends on the other).
 *
 * Owns: a string with its escapes and a finite number that reads back
 * exactly.  Never: parses JSON (json.h does, through jansson) or decides
 * what a document contains.
 */
#ifndef SE_JSONOUT_H
#define SE_JSONOUT_H

#include <stdio.h>

/* A JSON string: quotes, backslashes and every control character escaped
 * (\n, \t, \r by name, the rest as \u00XX); other bytes as they are. */
void se_json_string(FILE *out, const char *s);
/* A finite number in the shortest of %.15g / %.17g that reads back exactly. */
void se_json_number(FILE *out, double d);

#endif
