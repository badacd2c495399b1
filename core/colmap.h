/*
 * colmap.h: columns{}: a CRM export's own header names for the canonical
 * event fields.
 *
 * Owns: what a rules script's columns{} declares (per canonical field: the
 * export's column that holds it, or a fixed value for every row; a time
 * layout for the ts column), how header names are compared (trimmed, case
 * folded for Latin and Cyrillic, ё read as е, inner runs of spaces as one),
 * the binding of a declaration to one file's header with a clear error
 * naming a missing column and the closest ones, and the identity of an
 * event that has no event_id (a hash of its content).
 *
 * Never: calls Lua (the Lua host fills it while the script loads), reads a
 * file, or knows the canonical fields beyond their numbers (enum field of
 * import.h): the importer hands the names in for messages.
 */
#ifndef SE_COLMAP_H
#define SE_COLMAP_H

#include "csv.h"
#include "error.h"
#include "timeconv.h"

#include <stddef.h>
#include <stdint.h>

typedef struct se_colmap se_colmap;

/* The key of an event without an event_id: "content:" and 32 hex digits. */
#define SE_CONTENT_KEY_LEN 40

int se_colmap_new(se_colmap **out);
void se_colmap_free(se_colmap *m);

/* Declaring.  field is a canonical field's number (enum field); a later
 * setting of the same field replaces the earlier one, so a bundled
 * mapping can be adjusted by a second columns{}.  SE_EUSAGE with a
 * message on a bad value (an empty name, a bad layout). */
int se_colmap_set_column(se_colmap *m, int field, const char *header, se_error *err);
int se_colmap_set_value(se_colmap *m, int field, const char *value, se_error *err);
int se_colmap_set_ts_format(se_colmap *m, const char *layout, se_error *err);

/* Reading the declaration. */
int se_colmap_field_of(const se_colmap *m, const char *header); /* the field, or -1 */
int se_colmap_claims(const se_colmap *m, int field);      /* a column or a value */
const char *se_colmap_column(const se_colmap *m, int field); /* or NULL */
const char *se_colmap_value(const se_colmap *m, int field, size_t *len); /* or NULL */
const se_time_layout *se_colmap_ts_layout(const se_colmap *m); /* or NULL */
const char *se_colmap_ts_format(const se_colmap *m);     /* as declared, or NULL */

/* Header names as columns{} compares them. */
int se_header_names_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Binds the declaration to a header: field_of[i] becomes the field of
 * column i, or -1 when the declaration names no field there (the importer
 * then tries the canonical names).  A declared column missing from the
 * header, or found twice, is SE_EINPUT with a message naming it, the
 * field (from field_names) and the closest header names. */
int se_colmap_bind(const se_colmap *m, const se_csv_field *names, size_t n, int *field_of,
                   const char *const *field_names, se_error *err);

/* The identity of an event without an event_id: a 128-bit FNV-1a hash of
 * the deal id, the time (UTC seconds) and the stage, written as
 * "content:" + 32 lower-case hex digits into out (SE_CONTENT_KEY_LEN + 1
 * bytes).  Stable across runs, machines and versions: the same export
 * imported twice gives the same keys. */
void se_content_key(const char *deal, size_t deal_len, int64_t ts, const char *stage,
                    size_t stage_len, char *out);

/* The same for many rows at once, each key into its row's out, without
 * the NUL (keys may go straight into a buffer of rows): about twice as
 * fast as one at a time (two rows' hashes overlap). */
typedef struct se_content_row {
	const char *deal;
	size_t deal_len;
	int64_t ts;
	const char *stage;
	size_t stage_len;
	char *out;                 /* SE_CONTENT_KEY_LEN bytes, no NUL written */
} se_content_row;

void se_content_keys(const se_content_row *rows, size_t n);

#endif
