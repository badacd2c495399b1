/*
 * store_int.h: what the files of core/store/ share, and nothing else sees.
 *
 * Owns: the connection struct, the prepared-statement ids, and the few
 * helpers every part of the store uses (errors, stepping, the queues that
 * a commit must flush).  Only files in core/store/ include it; only they
 * call SQLite.
 *
 * Never: declares anything the rest of the program may call (that is
 * store.h and salesengine.h).
 */
#ifndef SE_STORE_INT_H
#define SE_STORE_INT_H

#include "store.h"
#include "history.h"
#include "strmap.h"

#include <pthread.h>
#include <sqlite3.h>

/* New deals go in by this many per INSERT. */
#define DEAL_GROUP 64

enum deal_cache_state {
	DEALS_UNKNOWN,
	DEALS_COMPLETE,   /* the map holds every key: a miss is a new deal */
	DEALS_PARTIAL,    /* SQLite decides */
	DEALS_LENT        /* the map is out (se_store_lend_deals) */
};


/* Copies the WAL into the database file on its own connection and thread,
 * so a large import goes on writing while the last batches are copied
 * (SQLite's own autocheckpoint would stop the committing thread for it). */
typedef struct checkpointer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sqlite3 *db;
	int started;
	int pending;              /* a commit asked for a checkpoint */
	int busy;                 /* a checkpoint is running */
	int stop;
} checkpointer;

/* The capture of inserted rows (see "rows kept from the import"). */
enum capture_state {
	CAP_NONE,         /* nothing kept */
	CAP_ACTIVE,       /* every row above cap_base is kept, up to cap_last */
	CAP_FROZEN        /* rows up to cap_last are kept, later ones are not */
};

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_DEAL_INSERT,
	ST_DEAL_FIND,
	ST_DEAL_KEY,
	ST_DEAL_STATS,
	ST_DEAL_MAX,
	ST_DEAL_ALL,
	ST_DEAL_ADD,
	ST_DEAL_ADD_GROUP,
	ST_DICT_INSERT0,
	ST_DICT_FIND0 = ST_DICT_INSERT0 + SE_DICT_COUNT,
	ST_DICT_ALL0 = ST_DICT_FIND0 + SE_DICT_COUNT,
	ST_EVENT_INSERT = ST_DICT_ALL0 + SE_DICT_COUNT,
	ST_EVENT_INSERT_GROUP,
	ST_META_GET,
	ST_META_SET,
	ST_MAX_EVENT,
	ST_LAST_TS,
	ST_DELTA_ROWS,
	ST_EVENT_KEY,
	ST_CHUNK_GET,
	ST_CHUNK_PUT,
	ST_CHUNK_ALL,
	ST_JSON_MEMBERS,
	ST_ALERT_GET,
	ST_ALERT_PUT,
	ST_ALERT_DELETE,
	ST_ALERT_FIRING,
	/* Adapter state: prepared on first use (the table may not exist yet). */
	ST_STATE_GET,
	ST_STATE_SET,
	ST_STATE_DEL,
	ST_STATE_KEYS,
	ST_COUNT
};

/* A content key (an event without an event_id: "content:" and 32
 * lower-case hex digits, colmap.h) is stored as its 16 bytes, a BLOB;
 * every other event_id as its text (docs/SCHEMA.md). */
#define SE_CONTENT_TEXT_LEN 40
#define SE_CONTENT_BLOB_LEN 16
/* 1 and the bytes when key is exactly a content key's text, else 0. */
int content_blob_of(const char *key, size_t len, unsigned char out[SE_CONTENT_BLOB_LEN]);
/* The text of stored bytes, NUL-terminated. */
void content_text_of(const unsigned char blob[SE_CONTENT_BLOB_LEN], char out[SE_CONTENT_TEXT_LEN + 1]);

#define EVENT_COLUMNS "event_key, deal, ts, status, from_status, manager, source, amount, pipeline, currency"
#define EVENT_PARAMS 10

extern const char *const dict_tables[SE_DICT_COUNT];

struct se_store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
	se_strmap *dict_cache[SE_DICT_COUNT];
	se_strmap *deal_cache;
	int in_tx;
	int hold;                    /* se_store_hold(): commits wait for se_store_release() */
	int held;                    /* ... and one is waiting: the transaction is still open */
	char *key_buf;               /* an event_id fetched to order a tie */
	size_t key_cap;
	char *state_buf;             /* the last value se_store_state_get() gave */
	size_t state_cap;
	int state_ready;             /* the adapter_state statements are prepared */
	/* Events queued for the multi-row insert, keys copied. */
	se_event_in queued[SE_STORE_GROUP];
	char queued_keys[SE_STORE_GROUP][SE_STORE_MAX_KEY];
	unsigned char queued_blobs[SE_STORE_GROUP][SE_CONTENT_BLOB_LEN]; /* the content keys bound */
	unsigned char single_blob[SE_CONTENT_BLOB_LEN];
	int n_queued;
	int64_t tx_inserted, tx_ignored;
	/* New deals numbered here and queued for a multi-row insert. */
	int deal_state;              /* enum deal_cache_state */
	int64_t next_deal;
	int64_t expected_rows;       /* se_store_expect_rows() */
	int lent_valid;              /* DEALS_LENT: the reader's numbers still hold */
	int64_t lent_max;            /* DEALS_LENT: highest deal id in the table */
	size_t deal_gen_keys;        /* se_store_limit_deal_maps(); 0: deals.c's defaults */
	size_t deal_filter_bytes;
	size_t lent_filter_bytes;    /* DEALS_LENT: what the lent map's filter takes */
	size_t lent_gen_first;       /* DEALS_LENT: keys the lent map turns at, first ... */
	size_t lent_gen_next;        /* ... and then */
	int64_t *skipped;            /* DEALS_LENT: reader numbers reserved and unused (deals.c) */
	size_t n_skipped, skipped_cap;
	int64_t queued_deal_ids[DEAL_GROUP];
	char queued_deal_keys[DEAL_GROUP][SE_STORE_MAX_KEY];
	size_t queued_deal_lens[DEAL_GROUP];
	int n_queued_deals;
	/* The rows this connection inserted, kept for the cache refresh (see
	 * "rows kept from the import" below): rows (cap_base, cap_last] when
	 * cap_state is CAP_ACTIVE or CAP_FROZEN. */
	se_history_delta *cap;
	int cap_state;               /* enum capture_state */
	int cap_checked;             /* the transaction's first insert checked it */
	int64_t cap_base, cap_last;
	size_t cap_limit;            /* bytes the kept rows may take */
	int cap_full;                /* ... nearly taken: fold them at the next commit */
	size_t cap_budget;           /* se_store_limit_capture(); 0: events.c's default */
	int64_t refreshed_from_memory;
	int64_t folded_rows;         /* rows from memory the folds of this import merged */
	int folding;                 /* the running refresh is a fold (se_store_fold) */
	size_t written_bytes;        /* chunk bytes written since the merge's last commit */
	int wal_frames;              /* frames in the WAL after our last commit */
	checkpointer ckpt;
	unsigned mem_shift;          /* se_store_lower_memory(): budgets >> this */
	int readonly;                /* SE_STORE_READONLY */
	int chunk_corrupt;           /* a refresh met a chunk it cannot read */
	int64_t written_max_ts;      /* the latest event time in the chunks a refresh wrote */
	int64_t refresh_covered;     /* the cache mark the running refresh started from */
	int cache_rebuilt;           /* se_store_cache_rebuilt() */
	void (*warn)(void *ud, const char *message);
	void *warn_ud;
};

/* One event row as the history cache needs it (see events.c). */
typedef struct delta_row {
	int64_t id, ts;
	double amount;
	uint32_t deal, status, pipeline, manager, source;
} delta_row;

/* deals.c: the memory the deal maps may take in this transaction. */
size_t deal_maps_bytes(const se_store *st);

/* open.c: errors, statements, transactions. */
int db_error(se_store *st, se_error *err, const char *what);
int exec_sql(se_store *st, const char *sql, se_error *err);
int prepare(se_store *st, enum stmt_id id, const char *sql, se_error *err);
/* Whether the schema has an object of this type ("index", "trigger") and
 * name; doing names the step in an error. */
int schema_has(se_store *st, const char *type, const char *name, int *yes, const char *doing, se_error *err);
/* Steps a statement that returns no rows and resets it. */
int step_done(se_store *st, sqlite3_stmt *s, se_error *err, const char *what);
/* Waits for the WAL to be copied into the database (open.c). */
void checkpoint_wait(se_store *st);
/* Hands a warning to the caller's callback, if any. */
void store_warn(se_store *st, const char *fmt, ...) SE_PRINTF(2, 3);

/* deals.c: writes the deals numbered here and still queued. */
int flush_queued_deals(se_store *st, se_error *err);

/* events.c: the event queue and the rows kept from the import. */
int flush_queued(se_store *st, se_error *err);
void capture_drop(se_store *st);
int capture_wants_fold(const se_store *st);
void delta_row_read(sqlite3_stmt *s, delta_row *r);
se_history_row history_row(const delta_row *d);

#endif
