/*
 * json.c: jansson behind json.h (why jansson: see json.h).
 */
#include "json.h"
#include "jsonstream.h"

#include <string.h>

int se_json_parse(const char *text, size_t len, long first_line, json_t **out, se_error *err)
{
	/* Through the streaming reader, so that a document read whole and one
	 * read in pieces give the same values (big integers as their digits). */
	return se_json_parse_value(text, len, first_line, out, err);
}

int se_json_records(json_t *doc, const char *path, json_t **out, se_error *err)
{
	json_t *v = doc;
	const char *p = path;

	*out = NULL;
	if (path == NULL) {
		if (json_is_array(doc)) {
			*out = json_incref(doc);
			return SE_OK;
		}
		if ((*out = json_array()) == NULL || json_array_append(*out, doc) != 0) {
			json_decref(*out);
			*out = NULL;
			return se_error_set(err, SE_ENOMEM, "out of memory");
		}
		return SE_OK;
	}
	/* Alternatives: "customers|orders" takes the first that is there. */
	for (;;) {
		size_t alt = strcspn(p, "|");
		const char *end = p + alt;

		v = doc;
		while (v != NULL && p < end) {
			const char *dot = memchr(p, '.', (size_t)(end - p));
			size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);

			v = json_is_object(v) ? json_object_getn(v, p, n) : NULL;
			p += n + (dot != NULL);
		}
		p = end;
		if (v != NULL || *p == '\0')
			break;
		p++;
	}
	if (v == NULL)
		return se_error_set(err, SE_EINPUT, "no \"%s\" in the document (the adapter reads its records there)", path);
	if (!json_is_array(v))
		return se_error_set(err, SE_EINPUT, "\"%s\" is a%s, not a list of records", path,
		                    json_is_object(v) ? "n object" : " single value");
	*out = json_incref(v);
	return SE_OK;
}
