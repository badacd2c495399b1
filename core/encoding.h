/*
 * encoding.h: input files as UTF-8 text in memory.
 *
 * Owns: reading an adapter's input file whole, stripping a UTF-8 byte
 * order mark, converting from a legacy encoding (cp1251, as Russian CRMs'
 * UI exports often are) with iconv, and refusing text that is not valid
 * UTF-8 with a message that names the line and suggests --encoding; and,
 * for the canonical import, the same conversion as a stream.
 *
 * Never: guesses an encoding silently: a cp1251 file read as UTF-8 would
 * import as mojibake, so the user is asked to say which it is.
 */
#ifndef SE_ENCODING_H
#define SE_ENCODING_H

#include "error.h"

#include <stddef.h>
#include <stdio.h>

/* Reads path ("-" is stdin) into *out (NUL-terminated, free() it), BOM
 * removed.  encoding: NULL or "utf-8" for UTF-8, else any iconv name
 * ("cp1251", "windows-1251", "koi8-r").  The result is valid UTF-8 or an
 * SE_EINPUT error "path:LINE: ...". */
int se_read_utf8_file(const char *path, const char *encoding, char **out, size_t *len,
                      se_error *err);

/* 1 when encoding names UTF-8 (or is NULL): nothing to convert. */
int se_encoding_is_utf8(const char *encoding);

/* Opens path ("-" is stdin) as a stream of UTF-8 converted on the fly from
 * encoding (an iconv name), for the canonical import, which streams files
 * of any size: memory stays one buffer whatever the file's.  fclose() it.
 * A byte the encoding cannot have fails the read with EILSEQ and puts its
 * offset in the file into *bad_byte (-1 until then; the caller keeps it
 * alive as long as the stream).  The stream can seek back (by converting
 * again from the start) when the file can. */
int se_utf8_stream_open(const char *path, const char *encoding, FILE **out, long long *bad_byte,
                        se_error *err);

/* Converts len bytes at in from encoding to UTF-8 (a BOM in the result is
 * kept); *out is malloc'd and NUL-terminated. */
int se_to_utf8(const char *in, size_t len, const char *encoding, char **out, size_t *out_len,
               se_error *err);

#endif
