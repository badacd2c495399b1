/*
 * jsonstream.h: a JSON document read as a stream of records.
 *
 * Owns: parsing JSON text fed in pieces of any size (a file read in
 * chunks, an HTTP body as it arrives) with yajl, and building a jansson
 * value for one record at a time: the elements of the array at the
 * adapter's records path ("customers", "_embedded.events", alternatives
 * separated by "|"), or of a top-level array, or the whole document when
 * it is neither.  Memory is one record plus the parser's stack, whatever
 * the document's size.  Also numbers: an integer that does not fit in 64
 * bits is kept as a string of its exact digits (ids such as
 * 18446744073709551615 stay distinct), never rounded through a double.
 *
 * Never: holds the document, or a record once its callback returned;
 * prints (errors are "line L, column C: reason" in se_error).
 */
#ifndef SE_JSONSTREAM_H
#define SE_JSONSTREAM_H

#include "error.h"

#include <jansson.h>
#include <stddef.h>

/* One record: rec is borrowed (released after the call).  A record that
 * cannot be built (a duplicate key inside it) comes as rec NULL and why
 * the reason.  A non-SE_OK return stops the stream with that error. */
typedef int (*se_json_record_fn)(void *ud, json_t *rec, const char *why, se_error *err);

typedef struct se_json_stream se_json_stream;

/* path: as se_json_records() (json.h); NULL: a top-level array's elements,
 * else the document as one record.  fn NULL: only check the syntax (a
 * first pass over a file, so a broken document imports nothing).
 * first_line: the line the text starts on, for messages. */
int se_json_stream_open(se_json_stream **out, const char *path, long first_line,
                        se_json_record_fn fn, void *ud, se_error *err);
/* Feeds the next len bytes.  A syntax error is SE_EINPUT "line L, column
 * C: reason"; the callback's own error comes back as it was. */
int se_json_stream_feed(se_json_stream *s, const char *buf, size_t len, se_error *err);
/* The end of the text: an unfinished document, or a records path that
 * was not there, is SE_EINPUT. */
int se_json_stream_end(se_json_stream *s, se_error *err);
void se_json_stream_free(se_json_stream *s);

/* One whole value (any JSON value at top level) from len bytes that
 * start on line first_line, with the same numbers as the stream; a
 * duplicate key is an error.  json.h's se_json_parse() is this. */
int se_json_parse_value(const char *text, size_t len, long first_line, json_t **out, se_error *err);

/* Records the stream has passed to fn (or would have, when checking). */
long se_json_stream_count(const se_json_stream *s);

#endif
