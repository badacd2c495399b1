/*
 * http.c: libcurl behind http.h.
 *
 * Why libcurl (Debian libcurl4-openssl-dev): TLS with the system's
 * certificate store, timeouts, proxies from the environment and HTTP/1.1
 * and 2 done right; the retry policy above it is ours, because what is
 * transient for a CRM API (429, 503 from a rate limiter) is not libcurl's
 * to decide.
 *
 * libcurl is loaded (dlopen) when the first client opens, not linked: it
 * and the thirty libraries it needs (TLS, Kerberos, LDAP, ...) cost every
 * run about 16 ms of CPU to map and relocate, a tenth of a report on a
 * million deals, and only --sync uses them.  The soname is the ABI the
 * headers describe (libcurl.so.4 since 2006).
 */
#include "sync/http.h"
#include "dynlib.h"
#include "vec.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CURL_SONAME "libcurl.so.4"

/* The libcurl functions used here, resolved once by load_curl(). */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *curl);
	void (*easy_reset)(CURL *curl);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	time_t (*getdate)(const char *p, const time_t *unused);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
} api;

static se_dynlib curl_lib = SE_DYNLIB_INIT(CURL_SONAME);

static const se_dynlib_sym curl_syms[] = {
	{ "curl_global_init", &api.global_init },
	{ "curl_easy_init", &api.easy_init },
	{ "curl_easy_cleanup", &api.easy_cleanup },
	{ "curl_easy_reset", &api.easy_reset },
	{ "curl_easy_setopt", &api.easy_setopt },
	{ "curl_easy_perform", &api.easy_perform },
	{ "curl_easy_getinfo", &api.easy_getinfo },
	{ "curl_easy_strerror", &api.easy_strerror },
	{ "curl_getdate", &api.getdate },
	{ "curl_slist_append", &api.slist_append },
	{ "curl_slist_free_all", &api.slist_free_all },
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc;

static void global_init(void)
{
	init_rc = api.global_init(CURL_GLOBAL_DEFAULT);
}

/* Loads libcurl and runs its global init, once per process. */
static int load_curl(se_error *err)
{
	if (!se_dynlib_load(&curl_lib, curl_syms, sizeof curl_syms / sizeof curl_syms[0]))
		return se_error_set(err, SE_ERR, "cannot start libcurl: %s", curl_lib.why);
	pthread_once(&init_once, global_init);
	if (init_rc != CURLE_OK)
		return se_error_set(err, SE_ERR, "cannot start libcurl: its global init failed");
	return SE_OK;
}

/* A response body larger than this is not an API page. */
#define MAX_BODY (256L * 1024 * 1024)

struct se_http {
	CURL *curl;
	se_http_opts o;
	struct timespec last; /* start of the last request */
	int any;
};

typedef struct buf {
	char *p;
	size_t len, cap;
	int too_big;
	long retry_after_ms; /* -1: none */
} buf;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	buf *b = ud;
	size_t add = size * n;

	if (b->len + add > MAX_BODY) {
		b->too_big = 1;
		return 0;
	}
	if (SE_VEC_RESERVE(b->p, b->cap, b->len + add + 1, 65536) != SE_OK)
		return 0;
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

/* Retry-After: seconds, or an HTTP date. */
static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	buf *b = ud;
	size_t len = size * n;
	const char *name = "retry-after:";
	char value[128];

	if (len > strlen(name) && strncasecmp(data, name, strlen(name)) == 0) {
		size_t vlen = len - strlen(name);

		if (vlen >= sizeof value)
			vlen = sizeof value - 1;
		memcpy(value, data + strlen(name), vlen);
		value[vlen] = '\0';
		value[strcspn(value, "\r\n")] = '\0';
		char *p = value + strspn(value, " \t"), *end;
		long secs = strtol(p, &end, 10);

		if (end != p && *end == '\0' && secs >= 0) {
			b->retry_after_ms = secs * 1000;
		} else {
			time_t at = api.getdate(p, NULL);

			if (at != -1)
				b->retry_after_ms = at > time(NULL) ? (long)(at - time(NULL)) * 1000 : 0;
		}
	}
	return len;
}

int se_http_url_allowed(const char *url)
{
	static const char *const local[] = { "http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:",
	                                     "http://localhost/", "http://[::1]:", "http://[::1]/" };

	if (strncasecmp(url, "https://", 8) == 0)
		return 1;
	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
		if (strncasecmp(url, local[i], strlen(local[i])) == 0)
			return 1;
	return 0;
}

int se_http_open(se_http **out, const se_http_opts *opts, se_error *err)
{
	se_http *h = calloc(1, sizeof *h);
	int rc;

	*out = NULL;
	if (h == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	if (opts)
		h->o = *opts;
	if (h->o.connect_timeout_ms <= 0)
		h->o.connect_timeout_ms = 10000;
	if (h->o.timeout_ms <= 0)
		h->o.timeout_ms = 120000;
	if (h->o.max_attempts <= 0)
		h->o.max_attempts = 5;
	if (h->o.backoff_ms <= 0)
		h->o.backoff_ms = 1000;
	if (h->o.max_wait_ms <= 0)
		h->o.max_wait_ms = 60000;
	if ((rc = load_curl(err)) != SE_OK) {
		free(h);
		return rc;
	}
	if ((h->curl = api.easy_init()) == NULL) {
		free(h);
		return se_error_set(err, SE_ERR, "cannot start libcurl");
	}
	*out = h;
	return SE_OK;
}

void se_http_close(se_http *h)
{
	if (h == NULL)
		return;
	api.easy_cleanup(h->curl);
	free(h);
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void note(se_http *h, const char *fmt, ...) SE_PRINTF(2, 3);

static void note(se_http *h, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (h->o.note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	h->o.note(h->o.ud, msg);
}

/* The host of a URL, for messages (never its path or query). */
static void host_of(const char *url, char *host, size_t size)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p ? p + 3 : url;
	n = strcspn(p, "/?#");
	if (memchr(p, '@', n) != NULL) { /* user:password@ never shown */
		const char *at = memchr(p, '@', n);

		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	snprintf(host, size, "%.*s", (int)n, p);
}

static int transient(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

int se_http_fetch(se_http *h, const char *label, const char *url, const char *const *headers,
                  const char *post, long *status, char **body, size_t *len, se_error *err)
{
	struct curl_slist *hdrs = NULL;
	char host[256];
	buf b = { NULL, 0, 0, 0, -1 };
	long wait = h->o.backoff_ms;
	int rc = SE_OK;

	*status = 0;
	*body = NULL;
	*len = 0;
	host_of(url, host, sizeof host);
	if (!se_http_url_allowed(url))
		return se_error_set(err, SE_EUSAGE, "%s: refusing plain http to %s (https only, except to this machine)",
		                    label, host);
	for (const char *const *p = headers; p && *p; p++)
		if ((hdrs = api.slist_append(hdrs, *p)) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
	if (post && (hdrs = api.slist_append(hdrs, "Content-Type: application/json")) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	for (int attempt = 1;; attempt++) {
		CURLcode c;
		long code = 0;
		char why[CURL_ERROR_SIZE + 64] = "";

		if (h->any && h->o.min_interval_ms > 0) {
			long since = ms_since(&h->last);

			if (since < h->o.min_interval_ms)
				sleep_ms(h->o.min_interval_ms - since);
		}
		clock_gettime(CLOCK_MONOTONIC, &h->last);
		h->any = 1;
		b.len = 0;
		b.too_big = 0;
		b.retry_after_ms = -1;
		api.easy_reset(h->curl);
		api.easy_setopt(h->curl, CURLOPT_URL, url);
		api.easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
		api.easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
		api.easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 1L);
		api.easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 2L);
		api.easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
		api.easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
		api.easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms);
		api.easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, h->o.timeout_ms);
		api.easy_setopt(h->curl, CURLOPT_ACCEPT_ENCODING, "");
		api.easy_setopt(h->curl, CURLOPT_USERAGENT, "salesengine-sync/1");
		api.easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
		api.easy_setopt(h->curl, CURLOPT_WRITEDATA, &b);
		api.easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
		api.easy_setopt(h->curl, CURLOPT_HEADERDATA, &b);
		if (post)
			api.easy_setopt(h->curl, CURLOPT_POSTFIELDS, post);
		c = api.easy_perform(h->curl);
		if (c == CURLE_OK)
			api.easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
		if (c == CURLE_WRITE_ERROR && b.too_big) {
			rc = se_error_set(err, SE_EINPUT, "%s: the response is larger than %ld MB", label, MAX_BODY >> 20);
			goto out;
		}
		if (c == CURLE_OK && code != 429 && code < 500) {
			*status = code;
			break;
		}
		if (c == CURLE_COULDNT_RESOLVE_HOST) {
			rc = se_error_set(err, SE_EIO, "%s: cannot resolve %s: is the account name right?", label, host);
			goto out;
		}
		if (c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE || c == CURLE_SSL_CONNECT_ERROR) {
			rc = se_error_set(err, SE_EIO, "%s: TLS with %s failed (%s); the certificate is not trusted, so nothing is sent",
			                  label, host, c == CURLE_PEER_FAILED_VERIFICATION ? "certificate not verified" : api.easy_strerror(c));
			goto out;
		}
		if (c != CURLE_OK && !transient(c)) {
			rc = se_error_set(err, SE_EIO, "%s: %s: %s", label, host, api.easy_strerror(c));
			goto out;
		}
		if (c != CURLE_OK)
			snprintf(why, sizeof why, "%s", api.easy_strerror(c));
		else
			snprintf(why, sizeof why, "HTTP %ld%s", code, code == 429 ? " (rate limit)" : "");
		if (attempt >= h->o.max_attempts) {
			rc = se_error_set(err, SE_EIO, "%s: %s from %s, %d attempts: giving up (run it again later)", label,
			                  why, host, attempt);
			goto out;
		}
		{
			long ms = code == 429 && b.retry_after_ms >= 0 ? b.retry_after_ms : wait;

			if (ms > h->o.max_wait_ms)
				ms = h->o.max_wait_ms;
			note(h, "%s: %s, again in %.1f s", label, why, (double)ms / 1000);
			sleep_ms(ms);
			if (code != 429 || b.retry_after_ms < 0)
				wait = wait * 2 > h->o.max_wait_ms ? h->o.max_wait_ms : wait * 2;
		}
	}
	*body = b.p ? b.p : strdup("");
	*len = b.len;
	b.p = NULL;
	if (*body == NULL)
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
out:
	free(b.p);
	api.slist_free_all(hdrs);
	return rc;
}
