/*
 * store.h: the event store.  Its files live in core/store/, the only folder
 * that talks to SQLite (open.c: opening, schema, statements, transactions;
 * deals.c: names and deal keys; events.c: storing events and keeping the
 * rows an import inserted; cache.c: the history cache; state.c: adapter and
 * alert state; json_members.c: JSON objects split by SQLite).
 *
 * Owns: the database file (schema in docs/SCHEMA.md), every SQL statement
 * (prepared once at open, bound, stepped, reset), transactions, interning of
 * names, and the per-deal history cache (history.h) kept beside the events.
 *
 * Never: parses input text or knows what a status means; never builds SQL
 * from data.
 */
#ifndef SE_STORE_H
#define SE_STORE_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

#define SE_SCHEMA_VERSION 2

/* Name dictionaries; ids start at 1, 0 means "none". */
typedef enum se_dict {
	SE_DICT_MANAGER,
	SE_DICT_SOURCE,
	SE_DICT_STATUS,
	SE_DICT_PIPELINE,
	SE_DICT_CURRENCY,
	SE_DICT_COUNT
} se_dict;

typedef struct se_event_in {
	const char *key;
	size_t key_len;
	int64_t deal;
	int64_t ts;
	uint32_t status;
	uint32_t from_status; /* 0 = none, likewise below */
	uint32_t manager;
	uint32_t source;
	uint32_t pipeline;
	uint32_t currency;
	double amount;        /* NAN = none */
} se_event_in;

/* Write transactions for import batches (BEGIN IMMEDIATE ... COMMIT). */
int se_store_begin(se_store *st, se_error *err);
int se_store_commit(se_store *st, se_error *err);
void se_store_rollback(se_store *st);

/* From now until se_store_release(), a commit writes what is queued but
 * leaves the transaction open, and a begin carries on in it: an import's
 * last batch, the cache refresh after it and whatever the caller writes
 * next (the kept partial counts) become visible in one commit.  The WAL
 * grows with all of it, so only for what fits one refresh window.  A
 * rollback ends the hold too. */
void se_store_hold(se_store *st);
/* 1 while a held commit waits for se_store_release() (its rows are not
 * stored yet: a failure before the release rolls them back). */
int se_store_holding(const se_store *st);

int se_store_intern(se_store *st, se_dict dict, const char *name, size_t len,
                    uint32_t *id, se_error *err);
int se_store_intern_deal(se_store *st, const char *key, size_t len, int64_t *id, se_error *err);
/* How many rows the coming import may bring (0: unknown).  Loading every
 * deal key of the store pays off only when the import is large next to
 * the store; a small daily import looks its few deals up instead. */
void se_store_expect_rows(se_store *st, int64_t rows);

/* Lending the deal numbering to another thread.  While the store is busy
 * with SQLite, the import's reader thread can look deal keys up and number
 * new deals itself, in a map the store hands over (and gets back), so the
 * two threads never share it.  se_store_lend_deals() gives NULL in *out
 * when the store cannot promise to know every key (very large stores).
 * se_deal_numbers_get() touches nothing but the lent map. */
typedef struct se_deal_numbers se_deal_numbers;
int se_store_lend_deals(se_store *st, se_deal_numbers **out, se_error *err);
/* *id 0: the writer interns this key itself.  *is_new 1: a new deal;
 * SE_DEAL_MAYBE_NEW: *id is reserved for the key, which may be stored
 * already (the writer asks SQLite); 0: a known deal. */
#define SE_DEAL_MAYBE_NEW 2
int se_deal_numbers_get(se_deal_numbers *dn, const char *key, size_t len, uint64_t hash, int64_t *id,
                        int *is_new);
/* A hint that key will be looked up soon (see se_strmap_prefetch); gives
 * the key's hash, which se_deal_numbers_get() takes (hashed once). */
uint64_t se_deal_numbers_prefetch(const se_deal_numbers *dn, const char *key, size_t len);
/* The writer's side: stores a deal the reader numbered (is_new) and gives
 * the id to use.  If another connection added deals meanwhile, the
 * reader's numbers are no longer safe: the key is then interned through
 * SQLite instead, whatever the reader said. */
int se_store_use_lent_deal(se_store *st, const char *key, size_t len, int64_t lent_id, int is_new,
                           int64_t *id, se_error *err);
void se_store_return_deals(se_store *st, se_deal_numbers *dn);
/* For tests: the lent map turns into generations at gen_keys keys (not a
 * million) with a filter of filter_bytes (rounded up to a power of two);
 * 0 keeps a default.  Takes effect at the next se_store_lend_deals(). */
void se_store_limit_deal_maps(se_store *st, size_t gen_keys, size_t filter_bytes);

/* Stores one event now; *inserted is 1 for a new event, 0 when its key was
 * already stored. */
int se_store_insert_event(se_store *st, const se_event_in *ev, int *inserted, se_error *err);

/* Queues an event for a multi-row INSERT (the import path: one statement
 * per SE_STORE_GROUP rows costs far less than one per row).  Queued events
 * are written when the group fills and by se_store_commit(); a failure
 * there loses the group with its transaction.  Keys longer than
 * SE_STORE_MAX_KEY bytes are refused (SE_EINPUT). */
#define SE_STORE_GROUP 64
#define SE_STORE_MAX_KEY 512
int se_store_add_event(se_store *st, const se_event_in *ev, se_error *err);

/* Events of the current (or just committed) transaction written as new and
 * ignored as already stored; both reset by se_store_begin(). */
void se_store_tx_counts(const se_store *st, int64_t *inserted, int64_t *ignored);

/* All names of a dictionary: (*names)[id] for id in 1..*count-1, [0] NULL.
 * Free with se_store_free_names(). */
int se_store_names(se_store *st, se_dict dict, char ***names, uint32_t *count, se_error *err);
void se_store_free_names(char **names, uint32_t count);
/* The deal_id text of deal number id (for examples in reports). */
int se_store_deal_key(se_store *st, int64_t id, char *buf, size_t size, se_error *err);
/* The time of the latest event stored (UTC seconds), 0 when there is none:
 * where the data ends, for the backtest's cutoffs.  Kept by the history
 * cache (meta.cache_last_ts) when it covers every event, else a full scan
 * (no index on ts): called only when a backtest is asked for. */
int se_store_last_ts(se_store *st, int64_t *ts, se_error *err);

/* Splits one JSON object into its top-level members with SQLite's JSON
 * functions (the store already links a well-tested JSON parser; the
 * importer should not grow a second one).  fn gets each member's key, type
 * and, for strings and numbers, its text (strings unescaped).  Malformed
 * JSON or a non-object: SE_EINPUT with *why set; fn's non-zero return stops
 * and is returned. */
enum se_json_type { SE_JSON_NULL, SE_JSON_STRING, SE_JSON_NUMBER, SE_JSON_OTHER };
typedef int (*se_json_member_fn)(void *ud, const char *key, size_t key_len, int type,
                                 const char *text, size_t len);
int se_store_json_object(se_store *st, const char *json, size_t len, se_json_member_fn fn,
                         void *ud, const char **why, se_error *err);

/* Adapter state: small key -> value texts an import adapter keeps between
 * runs, in namespace ns (the adapter's name), written in the current
 * transaction so they commit with the events.  get gives *value NULL when
 * the key is absent, else text valid until the next state call.  set with
 * value NULL deletes.  keys calls fn for every key starting with prefix, in
 * order; fn's non-zero return stops and is returned. */
int se_store_state_get(se_store *st, const char *ns, const char *key, size_t len,
                       const char **value, size_t *value_len, se_error *err);
int se_store_state_set(se_store *st, const char *ns, const char *key, size_t len,
                       const char *value, size_t value_len, se_error *err);
typedef int (*se_state_key_fn)(void *ud, const char *key, size_t len);
int se_store_state_keys(se_store *st, const char *ns, const char *prefix, size_t len,
                        se_state_key_fn fn, void *ud, se_error *err);

/* How many new rows the last cache refresh took from memory (rows this
 * store inserted itself) instead of reading them back from SQL; with an
 * import's folds (se_store_fold) since the refresh before. */
int64_t se_store_rows_from_memory(const se_store *st);

/* After an import batch's commit: when the rows kept from the import have
 * filled their memory budget, merges them into the history cache now, in
 * transactions of its own (as the refresh would), and starts keeping rows
 * again, so that an import of any size takes its rows from memory and not
 * back from SQL.  Does nothing otherwise, nor inside a held transaction
 * (the refresh after the last batch does it).  A failure leaves the cache
 * behind the events, as a killed import does: the next refresh folds them
 * in. */
int se_store_fold(se_store *st, se_error *err);

/* For tests: the memory the kept rows may take, whatever the deal keys
 * take (0: the default budget, shared with them). */
void se_store_limit_capture(se_store *st, size_t bytes);

/* Calls fn for each packed history chunk, in deal order.  The cache is
 * refreshed first if events were added since it was built.  buf->data is
 * a malloc'd buffer of buf->cap bytes holding the chunk (buf->size bytes,
 * checked and viewed as v).  fn may keep it (to hand the bytes to another
 * thread without a copy), leaving in its place another malloc'd buffer
 * (or NULL) and its capacity; the next chunk is read into that one, and
 * the store frees the last. */
struct se_chunk_view;
typedef struct se_chunk_buf {
	void *data;
	size_t cap, size;
} se_chunk_buf;
typedef int (*se_chunk_fn)(void *ud, se_chunk_buf *buf, const struct se_chunk_view *v, se_error *err);
int se_store_each_chunk(se_store *st, se_chunk_fn fn, void *ud, se_error *err);
/* 1 when the last se_store_each_chunk() met a corrupt chunk, rebuilt the
 * whole cache from the events (with a warning) and failed: what fn took
 * so far is no good, and reading again gives the rebuilt cache. */
int se_store_cache_rebuilt(const se_store *st);

/* ---- partial aggregates (store/partial.c) ------------------------------------ */

/* What a report counted from each chunk of deals, from each segment of
 * SE_PARTIAL_SEGMENT consecutive chunks (key -1 - chunk / segment size; a
 * chunk's key is its id) and from the segments before one (a prefix),
 * kept under a fingerprint fp of the report's settings and dropped
 * whenever one of those chunks is written.  open
 * refreshes the cache and starts one read transaction: the chunk ids, the
 * keys stored under fp, and the bytes of either are read from the same
 * snapshot.  have answers from the keys read at open.  get gives the
 * stored bytes (not aligned), chunk an aligned copy of the chunk, each
 * valid until the next get or chunk.
 * keep takes a malloc'd partial to store at close (freed there; dropped at
 * once when nothing can be kept: a read-only store, or one without the
 * table yet).  close with keep 1 writes them, unless another connection
 * wrote in between (then silently not), and ends the transaction. */
#define SE_PARTIAL_SEGMENT 16
/* Key of the partial of every segment before segment k: SE_PARTIAL_PREFIX - k. */
#define SE_PARTIAL_PREFIX (-1099511627776LL)
typedef struct se_partials se_partials;
int se_partials_open(se_store *st, uint64_t fp, se_partials **out, se_error *err);
int64_t se_partials_last_chunk(const se_partials *p);   /* -1 when there is none */
/* The chunk ids from `from` on, ascending; valid until the next call. */
int se_partials_chunks(se_partials *p, int64_t from, const int64_t **ids, size_t *n, se_error *err);
int se_partials_have(const se_partials *p, int64_t key);
int se_partials_get(se_partials *p, int64_t key, const void **data, size_t *size, se_error *err);
int se_partials_chunk(se_partials *p, int64_t id, const void **blob, size_t *size, se_error *err);
int se_partials_can_keep(const se_partials *p);
/* Whether anything is stored under the fingerprint. */
int se_partials_any(const se_partials *p);
int se_partials_keep(se_partials *p, int64_t key, void *data, size_t size);
int se_partials_close(se_partials *p, int keep, se_error *err);
/* Drops every stored partial (a full recount on the next run). */
int se_store_partials_clear(se_store *st, se_error *err);

/* ---- alert state (alerts.c) -------------------------------------------------- */

typedef struct se_alert_state {
	char state[16];     /* "pending", "firing" or "resolved" */
	int64_t since;      /* when the condition began to hold (UTC seconds) */
	int64_t changed;    /* when the state last changed */
	int64_t holds;      /* consecutive evaluations it has held */
	double value;       /* the last value, NAN when none */
	int64_t notified;   /* the last announcement, 0 = none */
} se_alert_state;

int se_store_alert_get(se_store *st, const char *rule, const char *scope, se_alert_state *out,
                       int *found, se_error *err);
int se_store_alert_put(se_store *st, const char *rule, const char *scope, const se_alert_state *a,
                       se_error *err);
int se_store_alert_delete(se_store *st, const char *rule, const char *scope, se_error *err);
/* Every alert whose stored state is firing, oldest first; fn's non-zero
 * return stops the walk and is returned. */
typedef int (*se_alert_firing_fn)(void *ud, const char *rule, const char *scope, int64_t since,
                                  double value);
int se_store_alert_each_firing(se_store *st, se_alert_firing_fn fn, void *ud, se_error *err);

/* Divides the cache's memory budgets (rows kept from an import, the
 * refresh's window) by 2^shift (at most 4), for imports that must stay in
 * bounded memory (see the end of store.c). */
void se_store_lower_memory(se_store *st, unsigned shift);

#endif
