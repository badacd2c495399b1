/*
 * utf8.h: UTF-8 validation and display width.
 *
 * Owns: the two questions text handling needs answered byte-exactly:
 * "is this valid UTF-8?" (import rejects what is not) and "how many terminal
 * columns does this take?" (tables line up with Cyrillic names, where bytes
 * and columns differ), and "how does this show on a terminal without
 * taking it over?" (names in tables and alert lines).
 */
#ifndef SE_UTF8_H
#define SE_UTF8_H

#include <stddef.h>

/* 1 if p[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF);
 * else 0 and *bad = offset of the first invalid byte. */
int se_utf8_valid(const char *p, size_t len, size_t *bad);

/* Terminal columns of valid UTF-8: combining marks take 0, East Asian wide
 * and fullwidth characters 2, everything else 1. */
size_t se_utf8_width(const char *p, size_t len);

/* The longest prefix of at most max_bytes bytes that ends on a character
 * boundary. */
size_t se_utf8_prefix(const char *p, size_t len, size_t max_bytes);

/* Text safe to show on a terminal: C0 controls, DEL and C1 controls
 * (U+0080..U+009F) become visible escapes ("\n", "\t", "\r", "\x1b",
 * "\u009b"), so a name can neither start a line of its own (and forge a
 * row or an alert) nor reach the terminal as an escape sequence.  Returns t
 * itself when nothing needs escaping, else the text in *scratch (grown as
 * needed; the caller frees it); "?" when out of memory. */
const char *se_utf8_visible(const char *t, char **scratch, size_t *cap);

#endif
