/*
 * i18n.h: the language of words and numbers meant for people.
 *
 * Owns: the compiled-in English/Russian catalog, choosing a language from a
 * name or the locale variables, and writing numbers, money and percentages
 * the way a reader of that language expects (1,234,567.89 / 1 234 567,89 ₽).
 *
 * Never: touches the C locale (setlocale would change how CSV and JSON
 * print numbers for the whole process), reads the environment itself (the
 * caller passes the variables), or is used for machine formats: CSV, JSON
 * and Prometheus keep the plain C numbers.
 *
 * Why not gettext: its translations are found at run time through installed
 * locales and .mo files; a cron job on a minimal server (LANG=C, no
 * ru_RU.UTF-8 generated) would silently print English.  Two languages and
 * a few hundred short strings fit a table compiled into the binary, which
 * works wherever the binary does and cannot get out of step with it.
 */
#ifndef SE_I18N_H
#define SE_I18N_H

#include <stddef.h>
#include <stdint.h>

typedef enum se_lang { SE_LANG_EN = 0, SE_LANG_RU = 1 } se_lang;

/* "en" or "ru" (also "english", "russian", any case); 0, or -1 when unknown. */
int se_lang_parse(const char *name, se_lang *out);
const char *se_lang_name(se_lang lang);

/* The language the locale asks for, in POSIX precedence: the first of
 * LC_ALL, LC_MESSAGES, LANG that is set and not empty decides; one starting
 * with "ru" is Russian, anything else (C, POSIX, en_US...) English.  Any
 * argument may be NULL. */
se_lang se_lang_from_locale(const char *lc_all, const char *lc_messages, const char *lang);

/* The text for an English message id: the Russian translation, or the id
 * itself (English, or a string the catalog lacks). */
const char *se_tr(se_lang lang, const char *msgid);

/* Numbers for people.  Each writes a NUL-terminated string into buf (at
 * most size bytes, truncated like snprintf) and returns buf.
 *   se_fmt_int      1,234,567          1 234 567
 *   se_fmt_fixed    1,234,567.89       1 234 567,89   (decimals 0..6)
 *   se_fmt_kopecks  1,234,567.89       1 234 567,89 ₽ (exact, from kopecks)
 *   se_fmt_money    the same from currency units (rounded to kopecks)
 *   se_fmt_percent  21.4%              21,4 %         (ratio 0..1, one decimal)
 * Russian groups digits with U+00A0 NO-BREAK SPACE: it never lets a number
 * wrap at a line end, and it is the group separator Russian Windows and
 * Excel use, so a pasted number reads as one.  NaN prints as "-". */
#define SE_FMT_SIZE 64
char *se_fmt_int(se_lang lang, int64_t v, char *buf, size_t size);
char *se_fmt_fixed(se_lang lang, double v, int decimals, char *buf, size_t size);
char *se_fmt_kopecks(se_lang lang, int64_t kopecks, char *buf, size_t size);
char *se_fmt_money(se_lang lang, double units, char *buf, size_t size);
char *se_fmt_percent(se_lang lang, double ratio, char *buf, size_t size);

#endif
