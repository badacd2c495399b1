/*
 * jsonstream.c: yajl events to one jansson record at a time (jsonstream.h).
 *
 * Why yajl (Debian libyajl-dev 2.1) under jansson: jansson parses whole
 * documents only, and a 1 GB dump must not be held; yajl is an event
 * parser that takes the text in pieces of any size and validates UTF-8 in
 * strings.  The records keep jansson's type, which the Lua side already
 * walks (script.c), so adapters see the same tables either way.
 *
 * The parser keeps a stack of open containers.  Containers outside a
 * record hold no value, only whether they are on the way to the records
 * path; containers inside a record hold the jansson value being built.
 */
#include "jsonstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* Deeper nesting than any CRM's dump; bounds the stack and the Lua side's
 * recursion. */
#define MAX_DEPTH 512

typedef struct frame {
	json_t *v;         /* the container, when inside a record */
	char *key;         /* a map's pending key (copied: yajl's is gone) */
	size_t key_len, key_cap;
	unsigned char is_map;
	unsigned char on_path; /* a map reached from the root through map keys only */
	unsigned char records; /* the array of records */
} frame;

typedef struct alt {
	const char *seg[16];
	size_t len[16];
	size_t n;
} alt;

struct se_json_stream {
	yajl_handle h;
	se_json_record_fn fn;
	void *ud;
	char *spec;        /* the records path as given, for messages */
	alt *alts;
	size_t n_alts;
	frame st[MAX_DEPTH];
	size_t depth;
	long line, col;    /* where the next byte fed sits */
	int found;         /* the records list was seen */
	const char *bad_kind; /* the path led to something else than a list */
	long count;
	/* The record being built: its root frame's index (in_rec), and the
	 * value; rec NULL with in_rec: a record given up (why says why). */
	int in_rec;
	size_t rec_depth;
	json_t *rec;
	char why[256];
	int whole;         /* no path, no top-level array: the document is the record */
	int doc_mode;      /* the document is the record, whatever it is */
	se_error *err;     /* during a feed */
	int rc;            /* an error raised in a callback */
};

/* ---- the path --------------------------------------------------------------- */

static int parse_spec(se_json_stream *s, const char *path, se_error *err)
{
	const char *p;

	if ((s->spec = strdup(path)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	s->n_alts = 1;
	for (p = s->spec; *p; p++)
		s->n_alts += *p == '|';
	if ((s->alts = calloc(s->n_alts, sizeof *s->alts)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	p = s->spec;
	for (size_t a = 0; a < s->n_alts; a++) {
		const char *end = p + strcspn(p, "|");

		while (p <= end) {
			size_t n = strcspn(p, ".|");

			if (s->alts[a].n == 16)
				return se_error_set(err, SE_EUSAGE, "records path \"%s\" has more than 16 keys", path);
			s->alts[a].seg[s->alts[a].n] = p;
			s->alts[a].len[s->alts[a].n++] = n;
			p += n + 1;
			if (p > end)
				break;
		}
		p = end + 1;
	}
	return SE_OK;
}

/* How the keys of the open maps (frames 0..depth-1) compare with an
 * alternative: 2 equal, 1 a proper prefix of it, 0 neither. */
static int path_match(const se_json_stream *s, const alt *a)
{
	if (s->depth > a->n)
		return 0;
	for (size_t i = 0; i < s->depth; i++)
		if (s->st[i].key_len != a->len[i] || memcmp(s->st[i].key, a->seg[i], a->len[i]) != 0)
			return 0;
	return s->depth == a->n ? 2 : 1;
}

/* ---- errors in callbacks ------------------------------------------------------ */

static int fail(se_json_stream *s, int rc, const char *fmt, const char *arg)
{
	s->rc = se_error_set(s->err, rc, fmt, arg);
	return 0;
}

static int oom(se_json_stream *s)
{
	return fail(s, SE_ENOMEM, "%s", "out of memory");
}

/* ---- records ------------------------------------------------------------------ */

static int deliver(se_json_stream *s)
{
	json_t *rec = s->rec;
	int rc = SE_OK;

	s->in_rec = 0;
	s->rec = NULL;
	s->count++;
	if (s->fn != NULL)
		rc = s->fn(s->ud, rec, rec ? NULL : s->why, s->err);
	json_decref(rec);
	if (rc != SE_OK) {
		s->rc = rc;
		return 0;
	}
	return 1;
}

static void give_up(se_json_stream *s, const char *fmt, const char *key, size_t len)
{
	snprintf(s->why, sizeof s->why, fmt, (int)(len > 64 ? 64 : len), key);
	json_decref(s->rec);
	s->rec = NULL;
}

/* Puts v (a new reference, or NULL when only checking) where the parser
 * is: into the record being built, or as a record itself. */
static int place(se_json_stream *s, json_t *v)
{
	frame *t = s->depth ? &s->st[s->depth - 1] : NULL;

	if (s->in_rec) {
		if (s->rec == NULL || v == NULL) {
			json_decref(v);
			return 1;
		}
		if (t->is_map) {
			if (json_object_getn(t->v, t->key, t->key_len) != NULL) {
				json_decref(v);
				give_up(s, "duplicate object key '%.*s'", t->key, t->key_len);
				return 1;
			}
			if (json_object_setn_new(t->v, t->key, t->key_len, v) != 0)
				return oom(s);
			return 1;
		}
		if (json_array_append_new(t->v, v) != 0)
			return oom(s);
		return 1;
	}
	json_decref(v);
	return 1;
}

/* A scalar value has arrived: make it if anyone will see it. */
static int scalar(se_json_stream *s, json_t *(*make)(const void *, size_t, long long), const void *p,
                  size_t n, long long i)
{
	frame *t = s->depth ? &s->st[s->depth - 1] : NULL;
	int is_record = (t == NULL && s->spec == NULL) || (t != NULL && t->records && !s->in_rec);
	json_t *v = NULL;

	if (t != NULL && t->is_map && t->on_path && !s->found)
		for (size_t a = 0; a < s->n_alts; a++)
			if (path_match(s, &s->alts[a]) == 2)
				s->bad_kind = " single value";
	if (!is_record && !s->in_rec)
		return 1;
	if (s->fn != NULL && (v = make(p, n, i)) == NULL)
		return oom(s);
	if (is_record) {
		s->in_rec = 1;
		s->rec = v;
		s->why[0] = '\0';
		return deliver(s);
	}
	return place(s, v);
}

static json_t *make_null(const void *p, size_t n, long long i)
{
	(void)p, (void)n, (void)i;
	return json_null();
}

static json_t *make_bool(const void *p, size_t n, long long i)
{
	(void)p, (void)n;
	return json_boolean(i);
}

static json_t *make_string(const void *p, size_t n, long long i)
{
	(void)i;
	return json_stringn(p, n);
}

/* Integers as integers while they fit in 64 bits; beyond, the exact
 * digits as a string (an id must not be rounded); anything with a
 * fraction or an exponent as a double. */
static json_t *make_number(const void *p, size_t n, long long i)
{
	char buf[512];
	const char *t = p;
	int integral = 1;

	(void)i;
	for (size_t k = 0; k < n; k++)
		if (t[k] == '.' || t[k] == 'e' || t[k] == 'E')
			integral = 0;
	if (n >= sizeof buf)
		return integral ? json_stringn(t, n) : json_real(strtod(t, NULL));
	memcpy(buf, t, n);
	buf[n] = '\0';
	if (integral) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(buf, &end, 10);
		if (errno == ERANGE || *end != '\0')
			return json_stringn(t, n);
		return json_integer(v);
	}
	return json_real(strtod(buf, NULL));
}

static int cb_null(void *ud)
{
	return scalar(ud, make_null, NULL, 0, 0);
}

static int cb_bool(void *ud, int b)
{
	return scalar(ud, make_bool, NULL, 0, b);
}

static int cb_number(void *ud, const char *p, size_t n)
{
	return scalar(ud, make_number, p, n, 0);
}

static int cb_string(void *ud, const unsigned char *p, size_t n)
{
	return scalar(ud, make_string, p, n, 0);
}

/* A container opens: a frame, and what it is to the records path. */
static int open_container(se_json_stream *s, int is_map)
{
	frame *t = s->depth ? &s->st[s->depth - 1] : NULL, *f;
	json_t *v = NULL;
	int starts_record = 0;

	if (s->depth == MAX_DEPTH)
		return fail(s, SE_EINPUT, "nested deeper than %s levels", "512");
	f = &s->st[s->depth];
	f->is_map = (unsigned char)is_map;
	f->on_path = 0;
	f->records = 0;
	f->key_len = 0;
	f->v = NULL;
	if (t == NULL) {
		if (s->doc_mode)
			starts_record = 1;
		else if (s->spec != NULL)
			f->on_path = (unsigned char)is_map;
		else if (!is_map)
			f->records = 1, s->found = 1;
		else
			starts_record = s->whole = 1;
	} else if (s->in_rec) {
		if (s->rec != NULL && s->fn != NULL) {
			if ((v = is_map ? json_object() : json_array()) == NULL)
				return oom(s);
			if (!place(s, json_incref(v))) {
				json_decref(v);
				return 0;
			}
			if (s->rec == NULL) { /* given up on a duplicate key */
				json_decref(v);
				v = NULL;
			} else {
				json_decref(v); /* the parent holds it */
			}
		}
	} else if (t->records) {
		starts_record = 1;
	} else if (t->is_map && t->on_path && !s->found) {
		for (size_t a = 0; a < s->n_alts; a++) {
			int m = path_match(s, &s->alts[a]);

			if (m == 2 && !is_map) {
				f->records = 1;
				s->found = 1;
				break;
			}
			if (m == 2)
				s->bad_kind = "n object";
			if (m == 1 && is_map)
				f->on_path = 1;
		}
	}
	if (starts_record) {
		s->in_rec = 1;
		s->rec_depth = s->depth;
		s->why[0] = '\0';
		if (s->fn != NULL && (v = s->rec = is_map ? json_object() : json_array()) == NULL)
			return oom(s);
	}
	f->v = v;
	s->depth++;
	return 1;
}

static int close_container(se_json_stream *s)
{
	s->depth--;
	s->st[s->depth].v = NULL;
	if (s->in_rec && s->depth == s->rec_depth)
		return deliver(s);
	return 1;
}

static int cb_start_map(void *ud)
{
	return open_container(ud, 1);
}

static int cb_start_array(void *ud)
{
	return open_container(ud, 0);
}

static int cb_end(void *ud)
{
	return close_container(ud);
}

static int cb_key(void *ud, const unsigned char *key, size_t n)
{
	se_json_stream *s = ud;
	frame *t = &s->st[s->depth - 1];

	/* Keys matter only on the path and inside a record being built. */
	if (!t->on_path && !(s->in_rec && s->rec != NULL)) {
		t->key_len = 0;
		return 1;
	}
	if (n + 1 > t->key_cap) {
		char *k = realloc(t->key, n + 1);

		if (k == NULL)
			return oom(s);
		t->key = k;
		t->key_cap = n + 1;
	}
	memcpy(t->key, key, n);
	t->key[n] = '\0';
	t->key_len = n;
	return 1;
}

static const yajl_callbacks callbacks = {
	cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
	cb_start_map, cb_key, cb_end, cb_start_array, cb_end,
};

/* ---- the stream ---------------------------------------------------------------- */

int se_json_stream_open(se_json_stream **out, const char *path, long first_line,
                        se_json_record_fn fn, void *ud, se_error *err)
{
	se_json_stream *s = calloc(1, sizeof *s);
	int rc;

	*out = NULL;
	if (s == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	s->fn = fn;
	s->ud = ud;
	s->line = first_line;
	s->col = 1;
	if (path != NULL && (rc = parse_spec(s, path, err)) != SE_OK) {
		se_json_stream_free(s);
		return rc;
	}
	if ((s->h = yajl_alloc(&callbacks, NULL, s)) == NULL) {
		se_json_stream_free(s);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	*out = s;
	return SE_OK;
}

/* Moves the position over n bytes of text: columns count characters. */
static void advance(se_json_stream *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			s->line++;
			s->col = 1;
		} else if (((unsigned char)p[i] & 0xC0) != 0x80) {
			s->col++;
		}
	}
}

static int syntax_error(se_json_stream *s, const char *buf, size_t len, se_error *err)
{
	unsigned char *msg = yajl_get_error(s->h, 0, (const unsigned char *)buf, len);
	const char *m = msg ? (const char *)msg : "syntax error";
	size_t used = buf ? yajl_get_bytes_consumed(s->h) : 0;
	size_t n;
	char near[16] = "";
	int rc;

	if (strncmp(m, "parse error: ", 13) == 0)
		m += 13;
	else if (strncmp(m, "lexical error: ", 15) == 0)
		m += 15;
	n = strcspn(m, "\n");
	while (n > 0 && (m[n - 1] == ' ' || m[n - 1] == '.'))
		n--;
	if (strncmp(m, "premature EOF", n) == 0 && n == 13)
		m = "unexpected end of the text", n = strlen(m);
	else if (strncmp(m, "unallowed token at this point in JSON text", n) == 0 && n == 42)
		m = "unexpected token", n = strlen(m);
	/* The column of the last byte read: the one the parser stopped at (at
	 * the end, the last character). */
	if (used > 0) {
		char c = buf[used - 1];

		advance(s, buf, used - 1);
		if (c > ' ' && c < 127)
			snprintf(near, sizeof near, " near '%c'", c);
	} else if (buf == NULL && s->col > 1) {
		s->col--;
	}
	rc = se_error_set(err, SE_EINPUT, "line %ld, column %ld: %.*s%s", s->line, s->col, (int)n, m, near);
	if (msg)
		yajl_free_error(s->h, msg);
	return rc;
}

int se_json_stream_feed(se_json_stream *s, const char *buf, size_t len, se_error *err)
{
	yajl_status st;

	s->err = err;
	s->rc = SE_OK;
	st = yajl_parse(s->h, (const unsigned char *)buf, len);
	if (st == yajl_status_client_canceled)
		return s->rc;
	if (st != yajl_status_ok)
		return syntax_error(s, buf, len, err);
	advance(s, buf, len);
	return SE_OK;
}

int se_json_stream_end(se_json_stream *s, se_error *err)
{
	yajl_status st;

	s->err = err;
	s->rc = SE_OK;
	st = yajl_complete_parse(s->h);
	if (st == yajl_status_client_canceled)
		return s->rc;
	if (st != yajl_status_ok)
		return syntax_error(s, NULL, 0, err);
	if (s->spec != NULL && !s->found) {
		if (s->bad_kind != NULL)
			return se_error_set(err, SE_EINPUT, "\"%s\" is a%s, not a list of records", s->spec,
			                    s->bad_kind);
		return se_error_set(err, SE_EINPUT,
		                    "no \"%s\" in the document (the adapter reads its records there)", s->spec);
	}
	return SE_OK;
}

long se_json_stream_count(const se_json_stream *s)
{
	return s->count;
}

void se_json_stream_free(se_json_stream *s)
{
	if (s == NULL)
		return;
	if (s->h)
		yajl_free(s->h);
	json_decref(s->rec);
	for (size_t i = 0; i < MAX_DEPTH; i++)
		free(s->st[i].key);
	free(s->alts);
	free(s->spec);
	free(s);
}

/* ---- one whole value ------------------------------------------------------------- */

static int keep_value(void *ud, json_t *rec, const char *why, se_error *err)
{
	json_t **out = ud;

	if (rec == NULL)
		return se_error_set(err, SE_EINPUT, "%s", why);
	*out = json_incref(rec);
	return SE_OK;
}

int se_json_parse_value(const char *text, size_t len, long first_line, json_t **out, se_error *err)
{
	se_json_stream *s = NULL;
	int rc;

	*out = NULL;
	if ((rc = se_json_stream_open(&s, NULL, first_line, keep_value, out, err)) != SE_OK)
		return rc;
	s->doc_mode = 1;
	if ((rc = se_json_stream_feed(s, text, len, err)) == SE_OK)
		rc = se_json_stream_end(s, err);
	se_json_stream_free(s);
	if (rc != SE_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}
