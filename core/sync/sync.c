/*
 * sync.c: the CRM table and the page loop behind sync.h.
 *
 * The cursor.  Each sync covers a window of time [from, to]: `from` is
 * where the last complete sync ended (adapter state "sync:from"), `to` is
 * now, stored as "sync:to" before the first request.  Every page's events
 * are committed with the adapter's own state as the page arrives; when the
 * last call is done, "sync:from" becomes `to` and "sync:to" is deleted in
 * the same transaction as the last events.  A sync that dies half-way
 * finds "sync:to" and covers the same window again: the pages it had
 * stored come back as duplicates (event ids are the CRM's), the rest are
 * new, and the next window starts only where a complete one ended, so
 * nothing is skipped and nothing is stored twice.  Why the window and not
 * the page: the adapters build entries from a whole window's records
 * (amoCRM's lead entries need the lead's first change, Pipedrive's its
 * deal), which a resume in the middle would not have.
 *
 * BlueSales has no history: a sync is a snapshot at `now` (the adapter's
 * snapshot logic; run it daily).  An interrupted snapshot is finished at
 * its own time ("sync:snapshot"), re-reading the list from the start
 * (customers already compared emit nothing).
 */
#include "sync/sync.h"
#include "sync/http.h"
#include "timeconv.h"
#include "vec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef enum paging {
	PG_NONE, /* one request */
	PG_AMO,  /* page=N from 1; more while _links.next; 204 is an empty list */
	PG_B24,  /* start=N; the response's "next" */
	PG_PD,   /* start=N; additional_data.pagination.next_start while more_items_in_collection */
	PG_HS,   /* after=X; paging.next.after */
	PG_BS,   /* startRowNumber=N; more while notReturnedCount > 0 */
} paging;

typedef struct call {
	const char *name;  /* ctx.file is "crm:name" */
	const char *list;  /* where the records are: checked in every response */
	paging pg;
	int per_deal;      /* once per deal the previous call listed (Pipedrive flows) */
} call;

typedef struct job job;

typedef struct crm {
	const char *name;
	const char *adapter;
	long min_interval_ms; /* from the CRM's documented rate limit */
	int snapshot;         /* BlueSales: the list now, not changes */
	const char *creds;    /* the variables it reads, for messages */
	int (*setup)(job *j, se_error *err);
	int (*url)(job *j, const call *k, const char *pos, char *url, size_t size, char **post);
	call calls[5];
} crm;

struct job {
	const crm *c;
	const se_sync_opts *o;
	se_http *http;
	se_adapter_run *run;
	char base[1024];
	char secret[1024];  /* a token or password: never in a message */
	char login[256];
	char header[1100];
	int64_t from, to;
	int64_t *deals;     /* Pipedrive: deals changed in the window */
	size_t n_deals, cap_deals;
	int64_t deal;
	char *config;       /* the config file's text, if one is used */
	char config_path[1024];
};

/* ---- credentials -------------------------------------------------------------- */

/* An owner-only config file: the default path if it exists, or
 * $SALESENGINE_SYNC_CONFIG, which must. */
static int load_config(job *j, se_error *err)
{
	const char *path = getenv("SALESENGINE_SYNC_CONFIG"), *home = getenv("HOME");
	struct stat sb;
	FILE *fp;
	long n;

	if (path == NULL) {
		if (home == NULL)
			return SE_OK;
		snprintf(j->config_path, sizeof j->config_path, "%s/.config/salesengine/sync.conf", home);
		if (stat(j->config_path, &sb) != 0)
			return SE_OK;
	} else {
		snprintf(j->config_path, sizeof j->config_path, "%s", path);
	}
	if ((fp = fopen(j->config_path, "r")) == NULL)
		return se_error_set(err, SE_EIO, "config %s: %s", j->config_path, strerror(errno));
	if (fstat(fileno(fp), &sb) != 0 || (sb.st_mode & 077) != 0 || sb.st_uid != geteuid()) {
		fclose(fp);
		if (sb.st_uid != geteuid())
			return se_error_set(err, SE_EUSAGE, "config %s: not owned by you; it holds credentials", j->config_path);
		return se_error_set(err, SE_EUSAGE,
		                    "config %s: readable by others (mode %04o); it holds credentials: chmod 600 %s",
		                    j->config_path, (unsigned)(sb.st_mode & 0777), j->config_path);
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 || n > 65536 || fseek(fp, 0, SEEK_SET) != 0 ||
	    (j->config = calloc(1, (size_t)n + 1)) == NULL || fread(j->config, 1, (size_t)n, fp) != (size_t)n) {
		fclose(fp);
		return se_error_set(err, SE_EIO, "config %s: cannot read it (at most 64 KB)", j->config_path);
	}
	fclose(fp);
	return SE_OK;
}

/* SALESENGINE_<CRM>_<KEY> from the environment, else a "NAME=value" line
 * of the config file. */
static int cred(job *j, const char *key, char *out, size_t size, int required, se_error *err)
{
	char name[128];
	const char *v;
	size_t i, len;

	snprintf(name, sizeof name, "SALESENGINE_%s_%s", j->c->name, key);
	for (i = 0; name[i]; i++)
		if (name[i] >= 'a' && name[i] <= 'z')
			name[i] = (char)(name[i] - 'a' + 'A');
	out[0] = '\0';
	if ((v = getenv(name)) != NULL && *v) {
		len = strlen(v);
	} else {
		v = NULL;
		for (const char *p = j->config; p && *p; p += strcspn(p, "\n"), p += *p == '\n') {
			p += strspn(p, " \t");
			if (strncmp(p, name, strlen(name)) == 0 && p[strlen(name)] == '=') {
				v = p + strlen(name) + 1;
				len = strcspn(v, "\r\n");
				break;
			}
		}
	}
	if (v == NULL) {
		if (!required)
			return SE_OK;
		return se_error_set(err, SE_EUSAGE, "--sync %s: %s is not set (in the environment or %s)", j->c->name, name,
		                    j->config_path[0] ? j->config_path : "~/.config/salesengine/sync.conf, mode 600");
	}
	if (len >= size)
		return se_error_set(err, SE_EUSAGE, "--sync %s: %s is too long", j->c->name, name);
	memcpy(out, v, len);
	out[len] = '\0';
	return SE_OK;
}

/* Tests point a CRM at a local server: SALESENGINE_SYNC_BASE_URL. */
static void base_url(job *j, const char *def)
{
	const char *o = getenv("SALESENGINE_SYNC_BASE_URL");

	snprintf(j->base, sizeof j->base, "%s", o && *o ? o : def);
	if (j->base[0] && j->base[strlen(j->base) - 1] == '/')
		j->base[strlen(j->base) - 1] = '\0';
}

/* ---- URLs -------------------------------------------------------------------- */

static void append(char *url, size_t size, const char *fmt, ...) SE_PRINTF(3, 4);

static void append(char *url, size_t size, const char *fmt, ...)
{
	size_t used = strlen(url);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(url + used, size - used, fmt, ap);
	va_end(ap);
}

/* Percent-encodes a query value. */
static void enc(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s && o + 4 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-_.~", ch))
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, size - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

static void iso_time(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

/* amoCRM (Kommo) API v4: a long-lived token, Bearer; the account's subdomain
 * (a full host such as mycompany.kommo.com also works). */
static int amo_setup(job *j, se_error *err)
{
	char sub[256], def[400];
	int rc;

	if ((rc = cred(j, "SUBDOMAIN", sub, sizeof sub, 1, err)) != SE_OK ||
	    (rc = cred(j, "TOKEN", j->secret, sizeof j->secret, 1, err)) != SE_OK)
		return rc;
	snprintf(def, sizeof def, strchr(sub, '.') ? "https://%s" : "https://%s.amocrm.ru", sub);
	base_url(j, def);
	snprintf(j->header, sizeof j->header, "Authorization: Bearer %s", j->secret);
	return SE_OK;
}

static int amo_url(job *j, const call *k, const char *pos, char *url, size_t size, char **post)
{
	const char *field = strcmp(k->name, "leads") == 0 ? "updated_at" : "created_at";

	(void)post;
	if (strcmp(k->name, "pipelines") == 0) {
		snprintf(url, size, "%s/api/v4/leads/pipelines", j->base);
		return SE_OK;
	}
	snprintf(url, size, "%s/api/v4/%s?page=%s&limit=%d", j->base, k->name, pos,
	         strcmp(k->name, "events") == 0 ? 100 : 250);
	if (strcmp(k->name, "events") == 0)
		append(url, size, "&filter%%5Btype%%5D=lead_status_changed");
	if (strcmp(k->name, "users") != 0) {
		if (j->from > 0)
			append(url, size, "&filter%%5B%s%%5D%%5Bfrom%%5D=%lld", field, (long long)j->from);
		append(url, size, "&filter%%5B%s%%5D%%5Bto%%5D=%lld", field, (long long)j->to);
	}
	return SE_OK;
}

/* Bitrix24: an inbound webhook, whose URL holds its secret. */
static int b24_setup(job *j, se_error *err)
{
	const char *o = getenv("SALESENGINE_SYNC_BASE_URL"), *path;
	int rc;

	if ((rc = cred(j, "WEBHOOK", j->secret, sizeof j->secret, 1, err)) != SE_OK)
		return rc;
	path = strstr(j->secret, "://");
	path = path ? strchr(path + 3, '/') : NULL;
	if (path == NULL || strstr(path, "/rest/") != path)
		return se_error_set(err, SE_EUSAGE, "--sync bitrix24: SALESENGINE_BITRIX24_WEBHOOK must be the webhook's URL"
		                    " (https://PORTAL.bitrix24.ru/rest/USER/CODE/)");
	if (o && *o)
		snprintf(j->base, sizeof j->base, "%s%s", o, path);
	else
		snprintf(j->base, sizeof j->base, "%s", j->secret);
	if (j->base[strlen(j->base) - 1] != '/')
		append(j->base, sizeof j->base, "/");
	return SE_OK;
}

static int b24_url(job *j, const call *k, const char *pos, char *url, size_t size, char **post)
{
	char from[64], to[64];

	(void)post;
	iso_time(j->from, from, sizeof from);
	iso_time(j->to, to, sizeof to);
	{
		char f[96], t[96];

		enc(f, sizeof f, from);
		enc(t, sizeof t, to);
		if (strcmp(k->name, "statuses") == 0)
			snprintf(url, size, "%scrm.status.list.json", j->base);
		else if (strcmp(k->name, "users") == 0)
			snprintf(url, size, "%suser.get.json?start=%s", j->base, pos);
		else if (strcmp(k->name, "deals") == 0)
			snprintf(url, size,
			         "%scrm.deal.list.json?start=%s&order%%5BID%%5D=ASC&select%%5B%%5D=*"
			         "&filter%%5B%%3E%%3DDATE_MODIFY%%5D=%s&filter%%5B%%3C%%3DDATE_MODIFY%%5D=%s",
			         j->base, pos, f, t);
		else
			snprintf(url, size,
			         "%scrm.stagehistory.list.json?entityTypeId=2&start=%s&order%%5BID%%5D=ASC"
			         "&filter%%5B%%3E%%3DCREATED_TIME%%5D=%s&filter%%5B%%3C%%3DCREATED_TIME%%5D=%s",
			         j->base, pos, f, t);
	}
	return SE_OK;
}

/* Pipedrive: an API token in the x-api-token header; the company domain. */
static int pd_setup(job *j, se_error *err)
{
	char dom[256], def[400];
	int rc;

	if ((rc = cred(j, "DOMAIN", dom, sizeof dom, 1, err)) != SE_OK ||
	    (rc = cred(j, "TOKEN", j->secret, sizeof j->secret, 1, err)) != SE_OK)
		return rc;
	snprintf(def, sizeof def, strchr(dom, '.') ? "https://%s" : "https://%s.pipedrive.com", dom);
	base_url(j, def);
	snprintf(j->header, sizeof j->header, "x-api-token: %s", j->secret);
	return SE_OK;
}

static int pd_url(job *j, const call *k, const char *pos, char *url, size_t size, char **post)
{
	(void)post;
	if (strcmp(k->name, "stages") == 0)
		snprintf(url, size, "%s/api/v1/stages?start=%s&limit=500", j->base, pos);
	else if (strcmp(k->name, "deals") == 0)
		snprintf(url, size, "%s/api/v1/deals?start=%s&limit=500&status=all_not_deleted&sort=update_time%%20DESC",
		         j->base, pos);
	else
		snprintf(url, size, "%s/api/v1/deals/%lld/flow?start=%s&limit=500", j->base, (long long)j->deal, pos);
	return SE_OK;
}

/* HubSpot: a private app's access token, Bearer. */
static int hs_setup(job *j, se_error *err)
{
	int rc;

	if ((rc = cred(j, "TOKEN", j->secret, sizeof j->secret, 1, err)) != SE_OK)
		return rc;
	base_url(j, "https://api.hubapi.com");
	snprintf(j->header, sizeof j->header, "Authorization: Bearer %s", j->secret);
	return SE_OK;
}

static int hs_url(job *j, const call *k, const char *pos, char *url, size_t size, char **post)
{
	(void)post;
	if (strcmp(k->name, "owners") == 0)
		snprintf(url, size, "%s/crm/v3/owners?limit=100", j->base);
	else
		snprintf(url, size,
		         "%s/crm/v3/objects/deals?limit=50&archived=false"
		         "&properties=dealname,dealstage,amount,hubspot_owner_id,hs_analytics_source,pipeline"
		         "&propertiesWithHistory=dealstage",
		         j->base);
	if (*pos)
		append(url, size, "&after=%s", pos);
	return SE_OK;
}

/* BlueSales: login and password as the API takes them, in the query. */
static int bs_setup(job *j, se_error *err)
{
	int rc;

	if ((rc = cred(j, "LOGIN", j->login, sizeof j->login, 1, err)) != SE_OK ||
	    (rc = cred(j, "PASSWORD", j->secret, sizeof j->secret, 1, err)) != SE_OK)
		return rc;
	base_url(j, "https://bluesales.ru");
	return SE_OK;
}

static int bs_url(job *j, const call *k, const char *pos, char *url, size_t size, char **post)
{
	char login[800], password[3100];

	(void)k;
	enc(login, sizeof login, j->login);
	enc(password, sizeof password, j->secret);
	snprintf(url, size, "%s/app/Customers/WebServer.aspx?login=%s&password=%s&command=customers.get", j->base, login,
	         password);
	if (asprintf(post, "{\"pageSize\": 500, \"startRowNumber\": %s}", pos) < 0) {
		*post = NULL;
		return SE_ENOMEM;
	}
	return SE_OK;
}

/* One row per CRM.  Rates: amoCRM 7 requests a second per account,
 * Bitrix24 2 a second, HubSpot 100 per 10 seconds for private apps,
 * Pipedrive's daily token budget (kept gentle: 4 a second), BlueSales
 * (undocumented: 1 a second).  docs/IMPORTERS.md cites the pages. */
static const crm crms[] = {
	{ "bluesales", "bluesales", 1000, 1, "SALESENGINE_BLUESALES_LOGIN, SALESENGINE_BLUESALES_PASSWORD",
	  bs_setup, bs_url,
	  { { "customers", "customers", PG_BS, 0 } } },
	{ "amocrm", "amocrm", 150, 0, "SALESENGINE_AMOCRM_SUBDOMAIN, SALESENGINE_AMOCRM_TOKEN", amo_setup, amo_url,
	  { { "pipelines", "_embedded.pipelines", PG_NONE, 0 },
	    { "users", "_embedded.users", PG_AMO, 0 },
	    { "leads", "_embedded.leads", PG_AMO, 0 },
	    { "events", "_embedded.events", PG_AMO, 0 } } },
	{ "bitrix24", "bitrix24", 500, 0, "SALESENGINE_BITRIX24_WEBHOOK", b24_setup, b24_url,
	  { { "statuses", "result", PG_NONE, 0 },
	    { "users", "result", PG_B24, 0 },
	    { "deals", "result", PG_B24, 0 },
	    { "stagehistory", "result.items", PG_B24, 0 } } },
	{ "pipedrive", "pipedrive", 250, 0, "SALESENGINE_PIPEDRIVE_DOMAIN, SALESENGINE_PIPEDRIVE_TOKEN", pd_setup, pd_url,
	  { { "stages", "data", PG_PD, 0 }, { "deals", "data", PG_PD, 0 }, { "flow", "data", PG_PD, 1 } } },
	{ "hubspot", "hubspot", 110, 0, "SALESENGINE_HUBSPOT_TOKEN", hs_setup, hs_url,
	  { { "owners", "results", PG_HS, 0 }, { "deals", "results", PG_HS, 0 } } },
};

const char *se_sync_crms(void)
{
	return "bluesales, amocrm, bitrix24, pipedrive, hubspot";
}

/* ---- responses -------------------------------------------------------------------- */

static json_t *at_path(json_t *doc, const char *path)
{
	json_t *v = doc;

	while (v != NULL && *path) {
		size_t n = strcspn(path, ".");

		v = json_is_object(v) ? json_object_getn(v, path, n) : NULL;
		path += n + (path[n] == '.');
	}
	return v;
}

static void note(job *j, const char *fmt, ...) SE_PRINTF(2, 3);

static void note(job *j, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (j->o->note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	j->o->note(j->o->ud, msg);
}

/* What an HTTP status other than 200 means, said for the user. */
static int judge(job *j, const char *label, long status, se_error *err)
{
	if (status == 401 || status == 403)
		return se_error_set(err, SE_EUSAGE,
		                    "%s: the CRM refused the credentials (HTTP %ld): check %s (expired or revoked?)", label,
		                    status, j->c->creds);
	if (status == 404)
		return se_error_set(err, SE_EUSAGE,
		                    "%s: not found (HTTP 404): is the account right (%s)? no such API there", label,
		                    j->c->creds);
	return se_error_set(err, SE_EIO, "%s: HTTP %ld from the CRM", label, status);
}

/* The next page's position, or "" when this was the last. */
static void next_pos(const call *k, json_t *doc, const char *pos, size_t got, char *next, size_t size)
{
	json_t *v;

	next[0] = '\0';
	switch (k->pg) {
	case PG_NONE:
		break;
	case PG_AMO:
		if (at_path(doc, "_links.next") != NULL)
			snprintf(next, size, "%ld", atol(pos) + 1);
		break;
	case PG_B24:
		if (json_is_integer(v = json_object_get(doc, "next")))
			snprintf(next, size, "%lld", (long long)json_integer_value(v));
		break;
	case PG_PD:
		if (json_is_true(at_path(doc, "additional_data.pagination.more_items_in_collection")) &&
		    json_is_integer(v = at_path(doc, "additional_data.pagination.next_start")))
			snprintf(next, size, "%lld", (long long)json_integer_value(v));
		break;
	case PG_HS:
		if (json_is_string(v = at_path(doc, "paging.next.after")))
			snprintf(next, size, "%s", json_string_value(v));
		break;
	case PG_BS:
		if (got > 0 && json_is_integer(v = json_object_get(doc, "notReturnedCount")) && json_integer_value(v) > 0)
			snprintf(next, size, "%lld", atoll(pos) + (long long)got);
		break;
	}
}

static int add_deal(job *j, int64_t id)
{
	if (SE_VEC_RESERVE(j->deals, j->cap_deals, j->n_deals + 1, 256) != SE_OK)
		return SE_ENOMEM;
	j->deals[j->n_deals++] = id;
	return SE_OK;
}

/* Pipedrive's deals come newest change first: the ones changed in the
 * window get their flows read; the first older one ends the listing. */
static int pd_deals(job *j, json_t *list, int *older, se_error *err)
{
	char from[32];
	time_t t = (time_t)j->from;
	struct tm tm;
	size_t i;
	json_t *d;

	gmtime_r(&t, &tm);
	strftime(from, sizeof from, "%Y-%m-%d %H:%M:%S", &tm);
	json_array_foreach(list, i, d) {
		json_t *id = json_object_get(d, "id"), *up = json_object_get(d, "update_time");

		if (!json_is_integer(id))
			return se_error_set(err, SE_EINPUT, "pipedrive deals: a deal without a numeric \"id\" (has the API changed?)");
		if (j->from > 0 && json_is_string(up) && strcmp(json_string_value(up), from) < 0) {
			*older = 1;
			continue;
		}
		if (add_deal(j, json_integer_value(id)) != SE_OK)
			return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	return SE_OK;
}

/* All pages of one call (for one deal, with per_deal). */
static int pages(job *j, const call *k, se_error *err)
{
	char pos[512], next[512], url[8192], label[160];
	int page = 0, rc = SE_OK;

	snprintf(pos, sizeof pos, "%s", k->pg == PG_AMO ? "1" : k->pg == PG_HS ? "" : "0");
	for (;;) {
		char *post = NULL, *body = NULL;
		size_t len = 0, got = 0;
		long status = 0;
		json_t *doc = NULL, *list;
		int older = 0;
		const char *hdrs[2] = { j->header[0] ? j->header : NULL, NULL };

		page++;
		if (k->per_deal)
			snprintf(label, sizeof label, "%s %s (deal %lld) page %d", j->c->name, k->name, (long long)j->deal, page);
		else
			snprintf(label, sizeof label, "%s %s page %d", j->c->name, k->name, page);
		if ((rc = j->c->url(j, k, pos, url, sizeof url, &post)) != SE_OK) {
			rc = se_error_set(err, SE_ENOMEM, "out of memory");
			break;
		}
		rc = se_http_fetch(j->http, label, url, hdrs, post, &status, &body, &len, err);
		free(post);
		if (rc != SE_OK)
			break;
		if (status == 204 || (status == 200 && len == 0 && k->pg == PG_AMO)) {
			free(body);
			break; /* amoCRM: an empty list */
		}
		if (status != 200) {
			free(body);
			rc = judge(j, label, status, err);
			break;
		}
		rc = se_json_parse(body, len, 1, &doc, err);
		free(body);
		if (rc != SE_OK) {
			se_error_prefix(err, "%s: the response is not JSON", label);
			break;
		}
		list = at_path(doc, k->list);
		if (list == NULL && json_is_string(json_object_get(doc, "error"))) {
			/* Bitrix24 and BlueSales say what went wrong in the body. */
			json_t *d = json_object_get(doc, "error_description");

			rc = se_error_set(err, SE_EINPUT, "%s: the CRM answered an error: %.200s%s%.300s", label,
			                  json_string_value(json_object_get(doc, "error")), json_is_string(d) ? ": " : "",
			                  json_is_string(d) ? json_string_value(d) : "");
			json_decref(doc);
			break;
		}
		if (list == NULL || !(json_is_array(list) || (json_is_null(list) && k->pg == PG_PD))) {
			rc = se_error_set(err, SE_EINPUT, "%s: the response has no list \"%s\" (%s): has the API changed?", label,
			                  k->list, list == NULL ? "missing" : "not a list");
			json_decref(doc);
			break;
		}
		got = json_is_array(list) ? json_array_size(list) : 0;
		if (got > 0 && strcmp(j->c->name, "pipedrive") == 0 && strcmp(k->name, "deals") == 0)
			rc = pd_deals(j, list, &older, err);
		if (rc == SE_OK && got > 0)
			rc = se_adapter_run_document(j->run, doc, err);
		next_pos(k, doc, pos, got, next, sizeof next);
		json_decref(doc);
		/* The page's events and state are durable before the next request. */
		if (rc == SE_OK)
			rc = se_adapter_run_commit(j->run, err);
		if (rc != SE_OK)
			break;
		note(j, "%s: %zu records", label, got);
		if (next[0] == '\0' || older)
			break;
		if (strcmp(next, pos) == 0) {
			rc = se_error_set(err, SE_EINPUT, "%s: the next page is this page again (has the API changed?)", label);
			break;
		}
		snprintf(pos, sizeof pos, "%s", next);
	}
	return rc;
}

static int state_int(job *j, const char *key, int64_t *out, se_error *err)
{
	char *v = NULL;
	int rc = se_adapter_run_state_get(j->run, key, &v, err);

	*out = 0;
	if (rc == SE_OK && v != NULL)
		*out = strtoll(v, NULL, 10);
	free(v);
	return rc;
}

static int state_put(job *j, const char *key, int64_t v, se_error *err)
{
	char buf[32];

	if (v == INT64_MIN)
		return se_adapter_run_state_set(j->run, key, NULL, err);
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	return se_adapter_run_state_set(j->run, key, buf, err);
}

static void relay(void *ud, const char *msg)
{
	job *j = ud;

	if (j->o->note)
		j->o->note(j->o->ud, msg);
}

int se_sync(se_store *st, const se_sync_opts *o, se_import_stats *stats, se_error *err)
{
	job j;
	se_http_opts ho;
	int64_t now = o->now ? o->now : (int64_t)time(NULL), snapshot = SE_NO_SNAPSHOT, open_to = 0;
	int n_calls = 0, rc;
	const char *env;

	memset(&j, 0, sizeof j);
	memset(stats, 0, sizeof *stats);
	j.o = o;
	for (size_t i = 0; i < sizeof crms / sizeof crms[0]; i++)
		if (strcmp(o->crm, crms[i].name) == 0)
			j.c = &crms[i];
	if (j.c == NULL)
		return se_error_set(err, SE_EUSAGE, "--sync: unknown CRM '%s' (one of: %s)", o->crm, se_sync_crms());
	if ((rc = load_config(&j, err)) != SE_OK || (rc = j.c->setup(&j, err)) != SE_OK)
		goto out;
	if (!se_http_url_allowed(j.base)) {
		rc = se_error_set(err, SE_EUSAGE, "--sync %s: the API address must be https (plain http only to this machine)",
		                  j.c->name);
		goto out;
	}
	memset(&ho, 0, sizeof ho);
	ho.min_interval_ms = j.c->min_interval_ms;
	/* Tests shorten the waits; a user never needs to. */
	if ((env = getenv("SALESENGINE_SYNC_BACKOFF_MS")) != NULL && *env)
		ho.backoff_ms = atol(env);
	if ((env = getenv("SALESENGINE_SYNC_INTERVAL_MS")) != NULL && *env)
		ho.min_interval_ms = atol(env);
	if ((env = getenv("SALESENGINE_SYNC_TIMEOUT_MS")) != NULL && *env)
		ho.timeout_ms = atol(env);
	ho.note = relay;
	ho.ud = &j;
	if ((rc = se_http_open(&j.http, &ho, err)) != SE_OK ||
	    (rc = se_adapter_run_open(&j.run, st, j.c->adapter, o->import, o->limits, stats, err)) != SE_OK)
		goto out;
	while (n_calls < 5 && j.c->calls[n_calls].name != NULL)
		n_calls++;
	/* The window (or the snapshot) this sync covers, stored before the
	 * first request so that a sync that dies covers the same again. */
	if (j.c->snapshot) {
		if ((rc = state_int(&j, "sync:snapshot", &snapshot, err)) != SE_OK)
			goto out;
		if (snapshot == 0)
			snapshot = now;
		else
			note(&j, "%s: finishing the snapshot an interrupted sync began", j.c->name);
		rc = state_put(&j, "sync:snapshot", snapshot, err);
	} else {
		if ((rc = state_int(&j, "sync:from", &j.from, err)) != SE_OK ||
		    (rc = state_int(&j, "sync:to", &open_to, err)) != SE_OK)
			goto out;
		j.to = open_to ? open_to : now;
		if (open_to)
			note(&j, "%s: covering again the window an interrupted sync began", j.c->name);
		rc = state_put(&j, "sync:to", j.to, err);
	}
	if (rc != SE_OK || (rc = se_adapter_run_commit(j.run, err)) != SE_OK)
		goto out;
	for (int i = 0; i < n_calls && rc == SE_OK; i++) {
		const call *k = &j.c->calls[i];
		char name[96];

		snprintf(name, sizeof name, "%s:%s", j.c->name, k->name);
		if ((rc = se_adapter_run_begin(j.run, name, i + 1, n_calls, snapshot, err)) != SE_OK)
			break;
		if (k->per_deal) {
			for (size_t d = 0; d < j.n_deals && rc == SE_OK; d++) {
				j.deal = j.deals[d];
				rc = pages(&j, k, err);
			}
		} else {
			rc = pages(&j, k, err);
		}
		if (rc == SE_OK)
			rc = se_adapter_run_end(j.run, err);
	}
	/* Done: the window closes with the last events, in one transaction. */
	if (rc == SE_OK && j.c->snapshot)
		rc = state_put(&j, "sync:snapshot", INT64_MIN, err);
	if (rc == SE_OK && !j.c->snapshot && (rc = state_put(&j, "sync:from", j.to, err)) == SE_OK)
		rc = state_put(&j, "sync:to", INT64_MIN, err);
out:
	rc = se_adapter_run_close(j.run, rc, err);
	se_http_close(j.http);
	free(j.deals);
	free(j.config);
	memset(j.secret, 0, sizeof j.secret);
	memset(j.header, 0, sizeof j.header);
	return rc;
}
