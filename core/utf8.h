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
#include <stdint.h>

/* 1 if p[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF);
 * else 0 and *bad = offset of the first invalid byte. */
int se_utf8_valid(const char *p, size_t len, size_t *bad);

/* The same check over a whole block of text, also counting its NUL bytes
 * (valid UTF-8, but the importer's fields must not hold them), in one
 * pass: 1 if valid, with *nuls their number; else 0 and *bad as above
 * (*nuls then undefined). */
int se_utf8_valid_count_nul(const char *p, size_t len, size_t *bad, size_t *nuls);

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

/* ---- matching names people type ("did you mean") ---------------------- */

/* Longest name, in code points, se_edit_distance() compares. */
#define SE_EDIT_MAX 64

/* The code point at *pp, leniently: a byte that does not start a complete
 * sequence comes back as 0x110000 + the byte (a value no text can spell)
 * and the decoder moves one byte on.  For comparing names, not for
 * validating them (se_utf8_valid()). */
uint32_t se_utf8_next(const unsigned char **pp, const unsigned char *end);

/* A code point as a person means it in a name: ASCII and Cyrillic letters
 * in lower case (Ѐ..Џ too), Ё and ё as е, tab, CR, LF, no-break and
 * narrow no-break spaces as a plain space. */
uint32_t se_utf8_fold(uint32_t c);

/* Levenshtein distance between two strings of code points; SIZE_MAX when
 * either is longer than SE_EDIT_MAX (too long to suggest). */
size_t se_edit_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

#endif
