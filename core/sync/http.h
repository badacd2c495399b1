/*
 * http.h: one careful HTTP client for syncing from CRM APIs (libcurl).
 *
 * Owns: the transport rules every CRM shares: TLS verified (peer and
 * host), only https (plain http only to this machine, for tests), no
 * redirects (they would carry credentials elsewhere), connect and total
 * timeouts, a minimum interval between requests (each CRM's documented
 * rate), 429 answered by waiting Retry-After, transient failures (5xx, a
 * refused or dropped connection, a timeout) retried with exponential
 * backoff up to a cap.
 *
 * Never: prints; puts a URL, a header or a body in a message (URLs and
 * headers carry credentials: messages name the request by the caller's
 * label and the host only).
 */
#ifndef SE_SYNC_HTTP_H
#define SE_SYNC_HTTP_H

#include "error.h"

#include <stddef.h>

typedef struct se_http_opts {
	long connect_timeout_ms; /* 0: 10 s */
	long timeout_ms;         /* whole request; 0: 120 s */
	long min_interval_ms;    /* between two requests' starts */
	int max_attempts;        /* 0: 5 */
	long backoff_ms;         /* first wait after a transient failure; 0: 1 s */
	long max_wait_ms;        /* cap on one wait (backoff or Retry-After); 0: 60 s */
	/* Told of each retry ("label: HTTP 503, again in 2 s"); may be NULL. */
	void (*note)(void *ud, const char *msg);
	void *ud;
} se_http_opts;

typedef struct se_http se_http;

int se_http_open(se_http **out, const se_http_opts *opts, se_error *err);
void se_http_close(se_http *h);

/* 1 if url may be fetched: https, or http to 127.0.0.1, ::1 or localhost. */
int se_http_url_allowed(const char *url);

/* One request (GET, or POST with a JSON body when post is not NULL), with
 * extra headers (NULL-terminated, may be NULL).  Retries as above; after
 * that, any final HTTP status comes back in *status with the body (*body
 * malloc'd, NUL-terminated); the caller judges 4xx.  A transport failure
 * that outlasts the retries is SE_EIO "label: reason". */
int se_http_fetch(se_http *h, const char *label, const char *url, const char *const *headers,
                  const char *post, long *status, char **body, size_t *len, se_error *err);

#endif
