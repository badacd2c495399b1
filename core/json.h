/*
 * json.h: JSON documents for import adapters, parsed with jansson.
 *
 * Owns: parsing a document (a CRM API dump) or one JSON Lines line into
 * jansson values, and finding the list of records in a document (the array
 * at a path such as "customers" or "_embedded.events").  core/lua/adapter_host.c walks
 * the values to build the Lua tables an adapter sees; nothing else reads
 * them.
 *
 * Why jansson (Debian bookworm: libjansson-dev 2.14): a stable, documented
 * API maintained since 2009 (json_object_foreach, typed accessors,
 * reference counts), strict parsing (invalid UTF-8 and, asked, duplicate keys
 * are refused) and errors that carry line
 * and column, which is what "file:LINE:COL: reason" needs.  cJSON gives
 * only a pointer into the text on error; yyjson is faster but not in
 * bookworm, and parsing is not where an adapter import spends its time
 * (that is the Lua call per record and the store).
 */
#ifndef SE_JSON_H
#define SE_JSON_H

#include "error.h"

#include <jansson.h>
#include <stddef.h>

/* Parses len bytes of UTF-8 text (any JSON value at top level) that start
 * on line first_line of their file.  A syntax error is SE_EINPUT
 * "line L, column C: reason" (the caller adds the file). */
int se_json_parse(const char *text, size_t len, long first_line, json_t **out, se_error *err);

/* The records of a document: a new reference to an array.  path: keys
 * separated by dots leading to the array ("result.items"), or such paths
 * separated by "|", the first present one winning ("customers|orders");
 * NULL: the
 * document itself if it is an array, else a one-element array holding it.
 * A path that does not lead to an array is SE_EINPUT. */
int se_json_records(json_t *doc, const char *path, json_t **out, se_error *err);

#endif
