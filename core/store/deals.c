/*
 * store/deals.c: names and deal keys to numbers, and back.
 *
 * Names and deal keys are interned through in-memory maps in front of the
 * tables, so an import touches SQLite once per new name, not per row, and
 * new deals go in as multi-row INSERTs.  The deal map can be lent to the
 * import's reader thread (se_store_lend_deals); past a million keys the
 * lent map keeps two generations of recent keys and a filter over all of
 * them, so an import of any size numbers its deals without SQLite.
 *
 * Never: touches events or the history cache.
 */
#include "store_int.h"
#include "vec.h"

#include <stdlib.h>
#include <string.h>

/* Past this many cached deal keys the map is dropped and refilled lazily:
 * keeps an import's memory bounded however many deals there are.  2^20 - 1
 * keys fit the map's 2^21 slots (64 MiB); one more key would double it. */
#define DEAL_CACHE_MAX ((1 << 20) - 1)
/* While the full map is lent to the reader, the store's own map only
 * catches the deals the reader could not number (the filter's "maybe"
 * keys, see below): an eighth of the size (8 MiB), so both fit an
 * import's 200 MiB with the kept rows and SQLite's cache. */
#define DEAL_CACHE_LENT_MAX ((1 << 17) - 1)
/* A store with at most this many deals has all their keys loaded when an
 * import starts, so a key not in the map is new without asking SQLite. */
#define DEAL_PRELOAD_MAX DEAL_CACHE_MAX
/* A lent map that outgrows DEAL_CACHE_MAX turns into generations of this
 * many keys (16 MiB each): the keys of the last two generations are the
 * ones a file in time order names again, and each hit in the older one
 * moves the key to the newer one, so a deal that stays active stays in
 * memory.  Dropping the whole map instead (as a store that is not lent
 * still does) sent every active deal to SQLite once after each drop.
 * An import that may bring more than DEAL_BIG_ROWS rows (likely more
 * deals than the map holds) starts with generations of DEAL_BIG_GEN keys
 * (32 MiB each) instead: at 10M deals in two years of events, two small
 * generations held 40 days of new deals, fewer than a deal's pauses
 * between steps span, and 2M keys fell out while still in use. */
#define DEAL_GEN_MAX ((1 << 18) - 1)
#define DEAL_BIG_GEN ((1 << 19) - 1)
#define DEAL_BIG_ROWS ((int64_t)8 * DEAL_CACHE_MAX)
/* The filter over every key of a turned map: two bits per row the import
 * may bring (se_store_expect_rows), rounded up, within these bounds.  Rows
 * outnumber deals (3 to 1 in the benchmark), so a key has 6 bits or more;
 * at 10M deals and the largest filter (2^27 bits) about 1 new key in 200
 * is a false "maybe", which costs a lookup and nothing else. */
#define DEAL_FILTER_MIN ((size_t)1 << 20)
#define DEAL_FILTER_MAX ((size_t)16 << 20)

/*
 * The lent numbering.  Until map holds gen_max keys it holds every key of
 * the store and the import, so a key it lacks is new.  Then it turns: map
 * becomes old (the one before is freed), a new map starts, and every key
 * goes into filter, a blocked Bloom filter (one 64-byte block per key, 6
 * bits in it), which can only say "certainly new" or "maybe".  A key in
 * neither map is then new when the filter says so; on a "maybe" the reader
 * still gives it the next number (rows keep the order of numbers they
 * would get one at a time) and marks the row for the writer, who asks
 * SQLite.  A key found there keeps its old number; the reserved one is
 * skipped, and the writer takes one off every reader number above it
 * (se_store_use_lent_deal), so deal ids stay dense and in order of first
 * appearance, as one at a time would give them.  Later rows of such a
 * key carry no number (0 in the map) and the writer interns them.  The
 * writer has stored every earlier row's deal by then, rows being written
 * in order, so its SQLite lookup sees every key the reader ever numbered.
 */
struct se_deal_numbers {
	se_strmap *map;
	se_strmap *old;            /* the generation before map; NULL before the first turn */
	uint64_t *filter;          /* NULL before the first turn */
	size_t filter_mask;        /* blocks - 1 (8 words to a block) */
	size_t gen_max;            /* map turns at this many keys */
	size_t gen_next;           /* ... and later generations at this many */
	size_t filter_bytes;       /* a power of two, 64 or more */
	int64_t next;
	int failed;                /* out of memory: numbers no more */
};

/* ---- interning ---------------------------------------------------------- */

/* Runs "INSERT ... DO NOTHING RETURNING id", falling back to the lookup
 * when the row was there already (or the two the other way round: the
 * first statement that gives a row gives the id). */
static int insert_or_find(se_store *st, sqlite3_stmt *ins, sqlite3_stmt *find,
                          const char *text, size_t len, int64_t *id, se_error *err)
{
	sqlite3_stmt *steps[2] = { ins, find };

	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *s = steps[i];
		int rc;

		sqlite3_bind_text(s, 1, text, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*id = sqlite3_column_int64(s, 0);
		if (rc == SQLITE_ROW)
			while (sqlite3_step(s) == SQLITE_ROW) /* let RETURNING finish */
				;
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		if (rc == SQLITE_ROW)
			return SE_OK;
		if (rc != SQLITE_DONE)
			return db_error(st, err, "storing a name");
	}
	return se_error_set(err, SE_EDB, "storing a name: row vanished");
}

int se_store_intern(se_store *st, se_dict dict, const char *name, size_t len,
                    uint32_t *id, se_error *err)
{
	int64_t v;
	int rc;

	if (se_strmap_get(st->dict_cache[dict], name, len, &v)) {
		*id = (uint32_t)v;
		return SE_OK;
	}
	rc = insert_or_find(st, st->stmt[ST_DICT_INSERT0 + dict], st->stmt[ST_DICT_FIND0 + dict],
	                    name, len, &v, err);
	if (rc != SE_OK)
		return rc;
	if (v <= 0 || v > UINT32_MAX)
		return se_error_set(err, SE_EDB, "too many distinct %s names", dict_tables[dict]);
	if (se_strmap_put(st->dict_cache[dict], name, len, v) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	*id = (uint32_t)v;
	return SE_OK;
}

/* ---- deals ---------------------------------------------------------------- */

static int load_all_deals(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_ALL];
	int rc = SE_OK, step;

	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(s, 1);

		if (se_strmap_put(st->deal_cache, key, (size_t)sqlite3_column_bytes(s, 1),
		                  sqlite3_column_int64(s, 0)) != SE_OK) {
			rc = se_error_set(err, SE_ENOMEM, "out of memory");
			break;
		}
	}
	sqlite3_reset(s);
	if (rc == SE_OK && step != SQLITE_DONE)
		return db_error(st, err, "reading deals");
	return rc;
}

/* Decides, once per transaction run, whether the map holds every deal key
 * (then a miss is a new deal, numbered here without asking SQLite). */
static int init_deal_cache(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_STATS];
	int64_t count = 0;
	int rc;

	if (sqlite3_step(s) == SQLITE_ROW) {
		count = sqlite3_column_int64(s, 0);
		st->next_deal = sqlite3_column_int64(s, 1) + 1;
	}
	rc = sqlite3_reset(s);
	if (rc != SQLITE_OK)
		return db_error(st, err, "counting deals");
	se_strmap_clear(st->deal_cache);
	st->deal_state = DEALS_PARTIAL;
	/* Preload when the import may touch a fair share of the deals (a row
	 * per four stored deals or more); else each new key costs one lookup,
	 * which is cheaper than reading them all. */
	if (count <= DEAL_PRELOAD_MAX && (count == 0 || st->expected_rows >= count / 4)) {
		if ((rc = load_all_deals(st, err)) != SE_OK)
			return rc;
		st->deal_state = DEALS_COMPLETE;
	}
	return SE_OK;
}

static int flush_deal_group(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_ADD_GROUP];
	int rc;

	for (int r = 0; r < DEAL_GROUP; r++) {
		sqlite3_bind_int64(s, 2 * r + 1, st->queued_deal_ids[r]);
		sqlite3_bind_text(s, 2 * r + 2, st->queued_deal_keys[r], (int)st->queued_deal_lens[r], SQLITE_STATIC);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, err, "storing a deal");
	if (sqlite3_changes(st->db) != DEAL_GROUP)
		return se_error_set(err, SE_EDB, "storing a deal: its number or key is taken already");
	st->n_queued_deals = 0;
	return SE_OK;
}

int flush_queued_deals(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_ADD];
	int n = st->n_queued_deals;

	st->n_queued_deals = 0;
	for (int r = 0; r < n; r++) {
		int rc;

		sqlite3_bind_int64(s, 1, st->queued_deal_ids[r]);
		sqlite3_bind_text(s, 2, st->queued_deal_keys[r], (int)st->queued_deal_lens[r], SQLITE_STATIC);
		if ((rc = step_done(st, s, err, "storing a deal")) != SE_OK)
			return rc;
	}
	return SE_OK;
}

static int queue_new_deal(se_store *st, const char *key, size_t len, int64_t *id, se_error *err)
{
	int n = st->n_queued_deals;

	if (len > SE_STORE_MAX_KEY)
		return se_error_set(err, SE_EINPUT, "deal id longer than %d bytes", SE_STORE_MAX_KEY);
	*id = st->next_deal++;
	st->queued_deal_ids[n] = *id;
	memcpy(st->queued_deal_keys[n], key, len);
	st->queued_deal_lens[n] = len;
	if (++st->n_queued_deals < DEAL_GROUP)
		return SE_OK;
	return flush_deal_group(st, err);
}

int se_store_intern_deal(se_store *st, const char *key, size_t len, int64_t *id, se_error *err)
{
	int rc;

	if (st->deal_state == DEALS_UNKNOWN && (rc = init_deal_cache(st, err)) != SE_OK)
		return rc;
	if (se_strmap_get(st->deal_cache, key, len, id))
		return SE_OK;
	/* While the map is lent (and in PARTIAL), SQLite decides below. */
	if (st->deal_state == DEALS_COMPLETE) {
		rc = queue_new_deal(st, key, len, id, err);
		/* Outside a transaction nobody commits the queue: write it now. */
		if (rc == SE_OK && !st->in_tx)
			rc = flush_queued_deals(st, err);
	} else {
		/* Keys are not all in memory: SQLite decides (queued deals first,
		 * so the lookup sees them). */
		if ((rc = flush_queued_deals(st, err)) != SE_OK)
			return rc;
		/* Most keys that get here are known (a map cleared when full
		 * forgot them): look first, insert only when not found. */
		rc = insert_or_find(st, st->stmt[ST_DEAL_FIND], st->stmt[ST_DEAL_INSERT], key, len, id, err);
		if (rc == SE_OK && *id >= st->next_deal)
			st->next_deal = *id + 1;
	}
	if (rc != SE_OK)
		return rc;
	if (*id > UINT32_MAX)
		return se_error_set(err, SE_EDB, "more than 4294967295 deals");
	if (st->deal_state == DEALS_LENT) {
		/* Still lent: the reader's numbers stay good, only this map of
		 * the keys it could not number starts over. */
		if (se_strmap_count(st->deal_cache) >= DEAL_CACHE_LENT_MAX)
			se_strmap_clear(st->deal_cache);
	} else if (se_strmap_count(st->deal_cache) >= DEAL_CACHE_MAX) {
		se_strmap_clear(st->deal_cache);
		st->deal_state = DEALS_PARTIAL;
	}
	if (se_strmap_put(st->deal_cache, key, len, *id) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	return SE_OK;
}

void se_store_expect_rows(se_store *st, int64_t rows)
{
	st->expected_rows = rows;
	if (st->deal_state == DEALS_PARTIAL)
		st->deal_state = DEALS_UNKNOWN; /* decide again with the new hint */
}

/* The keys the lent map is made room for when lent: a quarter of the rows
 * the import may bring (a deal has a few events), at most the first
 * generation.  Grown by doubling instead, a map of a million keys (64
 * MiB) had allocated and zeroed 128 MiB on the way, page fault by page
 * fault on the reader's time, and rehashed every key once more. */
static size_t lent_reserve(const se_store *st, size_t gen_max)
{
	if (st->expected_rows <= 0 || st->expected_rows == INT64_MAX)
		return 0; /* a pipe: no idea */
	return st->expected_rows / 4 < (int64_t)gen_max ? (size_t)(st->expected_rows / 4) : gen_max;
}

/* What the deal maps may take during this transaction: the lent one as
 * numbered so far or the room it was given, the larger (a map that is
 * not lent: its keys or its slots, the larger); once that is near its
 * turn, the most the generations,
 * the filter and the store's own map can take together (the lent ones
 * grow within the transaction; this is asked at its start). */
size_t deal_maps_bytes(const se_store *st)
{
	size_t first = st->lent_gen_first, gen = st->lent_gen_next;

	if (st->deal_state != DEALS_LENT) {
		size_t keys = se_strmap_bytes(se_strmap_count(st->deal_cache));
		size_t slots = se_strmap_slot_bytes(st->deal_cache);

		return keys > slots ? keys : slots;
	}
	if ((size_t)st->lent_max < first && first > gen) {
		size_t numbered = se_strmap_bytes((size_t)st->lent_max);
		size_t reserved = se_strmap_bytes(lent_reserve(st, first));

		return numbered > reserved ? numbered : reserved;
	}
	return se_strmap_bytes(first) + se_strmap_bytes(gen) + st->lent_filter_bytes +
	       se_strmap_bytes(DEAL_CACHE_LENT_MAX);
}

void se_store_limit_deal_maps(se_store *st, size_t gen_keys, size_t filter_bytes)
{
	size_t b = 64;

	while (b < filter_bytes)
		b *= 2;
	st->deal_gen_keys = gen_keys;
	st->deal_filter_bytes = filter_bytes ? b : 0;
}

static void filter_bits(uint64_t h, size_t mask, size_t *block, uint64_t bits[8])
{
	/* A second, independent 64 bits from the same hash: six 9-bit
	 * positions within the block's 512 bits. */
	uint64_t g = (h ^ (h >> 31)) * 0x9e3779b97f4a7c15ull;

	*block = (size_t)(h >> 32) & mask;
	memset(bits, 0, 8 * sizeof *bits);
	for (int i = 0; i < 6; i++, g >>= 9)
		bits[(g >> 6) & 7] |= 1ull << (g & 63);
}

static void filter_add(se_deal_numbers *dn, uint64_t hash)
{
	uint64_t bits[8];
	size_t block;

	filter_bits(hash, dn->filter_mask, &block, bits);
	for (int w = 0; w < 8; w++)
		dn->filter[block * 8 + w] |= bits[w];
}

/* 0: certainly never added; 1: maybe. */
static int filter_maybe(const se_deal_numbers *dn, uint64_t hash)
{
	uint64_t bits[8];
	size_t block;

	filter_bits(hash, dn->filter_mask, &block, bits);
	for (int w = 0; w < 8; w++)
		if ((dn->filter[block * 8 + w] & bits[w]) != bits[w])
			return 0;
	return 1;
}

static void filter_add_each(void *ctx, const char *key, size_t len, int64_t value)
{
	(void)value;
	filter_add(ctx, se_strmap_hash(key, len));
}

/* map is full: it becomes the old generation, and the filter learns its keys. */
static int turn(se_deal_numbers *dn)
{
	se_strmap *fresh = se_strmap_new();

	if (fresh == NULL)
		return SE_ENOMEM;
	if (dn->filter == NULL) {
		size_t words = dn->filter_bytes / sizeof *dn->filter;

		if ((dn->filter = calloc(words, sizeof *dn->filter)) == NULL) {
			se_strmap_free(fresh);
			return SE_ENOMEM;
		}
		dn->filter_mask = words / 8 - 1;
		/* Keys numbered from here on go in as they come; these are all
		 * the ones before (the old generation is NULL on the first turn). */
		se_strmap_each(dn->map, filter_add_each, dn);
	}
	se_strmap_free(dn->old);
	dn->old = dn->map;
	dn->map = fresh;
	dn->gen_max = dn->gen_next;
	return SE_OK;
}

int se_store_lend_deals(se_store *st, se_deal_numbers **out, se_error *err)
{
	se_deal_numbers *dn;
	se_strmap *empty;
	int rc;

	*out = NULL;
	if (st->deal_state == DEALS_UNKNOWN && (rc = init_deal_cache(st, err)) != SE_OK)
		return rc;
	if (st->deal_state != DEALS_COMPLETE)
		return SE_OK;
	/* Queued deals go in first: the table must hold every lent number
	 * below the ones the reader will hand out. */
	if ((rc = flush_queued_deals(st, err)) != SE_OK)
		return rc;
	if ((dn = calloc(1, sizeof *dn)) == NULL || (empty = se_strmap_new()) == NULL) {
		free(dn);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	dn->map = st->deal_cache;
	dn->next = st->next_deal;
	if (st->deal_gen_keys != 0)
		dn->gen_max = dn->gen_next = st->deal_gen_keys;
	else if (st->expected_rows <= 0 || st->expected_rows > DEAL_BIG_ROWS)
		dn->gen_max = dn->gen_next = DEAL_BIG_GEN;
	else {
		dn->gen_max = DEAL_CACHE_MAX;
		dn->gen_next = DEAL_GEN_MAX;
	}
	st->lent_gen_first = dn->gen_max;
	st->lent_gen_next = dn->gen_next;
	/* Best effort: without the room the map grows as it always did. */
	(void)se_strmap_reserve(dn->map, lent_reserve(st, dn->gen_max));
	if ((dn->filter_bytes = st->deal_filter_bytes) == 0) {
		dn->filter_bytes = DEAL_FILTER_MIN;
		while (dn->filter_bytes < DEAL_FILTER_MAX &&
		       (st->expected_rows <= 0 || dn->filter_bytes * 4 < (uint64_t)st->expected_rows))
			dn->filter_bytes *= 2;
	}
	st->lent_filter_bytes = dn->filter_bytes;
	st->deal_cache = empty;
	st->deal_state = DEALS_LENT;
	st->lent_valid = 1;
	st->lent_max = st->next_deal - 1;
	st->n_skipped = 0;
	*out = dn;
	return SE_OK;
}

/* Puts key into the newest generation, turning first when it is full. */
static int keep(se_deal_numbers *dn, const char *key, size_t len, uint64_t hash, int64_t id)
{
	if (se_strmap_count(dn->map) >= dn->gen_max && turn(dn) != SE_OK)
		return SE_ENOMEM;
	if (dn->filter != NULL)
		filter_add(dn, hash);
	return se_strmap_put_hashed(dn->map, key, len, hash, id);
}

int se_deal_numbers_get(se_deal_numbers *dn, const char *key, size_t len, uint64_t hash, int64_t *id,
                        int *is_new)
{
	int maybe;

	*is_new = 0;
	if (dn->failed)
		return SE_ENOMEM;
	if (se_strmap_get_hashed(dn->map, key, len, hash, id))
		return SE_OK; /* 0: a key the writer looked up; it does again */
	if (dn->old != NULL && se_strmap_get_hashed(dn->old, key, len, hash, id)) {
		if (keep(dn, key, len, hash, *id) != SE_OK)
			goto failed;
		return SE_OK;
	}
	maybe = dn->filter != NULL && filter_maybe(dn, hash);
	*id = dn->next++;
	*is_new = maybe ? SE_DEAL_MAYBE_NEW : 1;
	if (keep(dn, key, len, hash, maybe ? 0 : *id) != SE_OK)
		goto failed;
	return SE_OK;
failed:
	/* The rows from here on go to the writer unnumbered, and it interns
	 * them through SQLite: safe, since the numbers handed out so far are
	 * all on rows before them. */
	dn->failed = 1;
	return SE_ENOMEM;
}

/* Past the first turn a key the newest generation lacks goes on to the
 * old one and the filter (every new deal, and every deal back after a
 * pause): their lines are fetched too, or each is a miss of its own. */
uint64_t se_deal_numbers_prefetch(const se_deal_numbers *dn, const char *key, size_t len)
{
	uint64_t hash = se_strmap_hash(key, len);

	se_strmap_prefetch_hashed(dn->map, hash);
	if (dn->old != NULL)
		se_strmap_prefetch_hashed(dn->old, hash);
	if (dn->filter != NULL)
		__builtin_prefetch(&dn->filter[((size_t)(hash >> 32) & dn->filter_mask) * 8]);
	return hash;
}

/* The deal id for reader number p: p less the reserved numbers below it
 * that went unused (kept ascending: they come in row order). */
static int64_t lent_to_id(const se_store *st, int64_t p)
{
	size_t lo = 0, hi = st->n_skipped;

	if (hi == 0 || p > st->skipped[hi - 1])
		return p - (int64_t)hi;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->skipped[mid] < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return p - (int64_t)lo;
}

/* A key the reader could not place: SQLite says whether it is stored
 * (every deal of the rows before is, or is queued: flushed first). */
static int check_maybe_new(se_store *st, const char *key, size_t len, int64_t lent_id, int64_t *id,
                           se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_FIND];
	int rc, n;

	if ((rc = flush_queued_deals(st, err)) != SE_OK)
		return rc;
	sqlite3_bind_text(s, 1, key, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	while (rc == SQLITE_ROW && sqlite3_step(s) == SQLITE_ROW)
		;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(st, err, "looking a deal up");
	if (rc == SQLITE_DONE) {
		/* New after all: it takes the number reserved for it. */
		*id = lent_to_id(st, lent_id);
		n = st->n_queued_deals;
		st->queued_deal_ids[n] = *id;
		memcpy(st->queued_deal_keys[n], key, len);
		st->queued_deal_lens[n] = len;
		st->lent_max = *id;
		st->n_queued_deals++;
	} else if (SE_VEC_RESERVE(st->skipped, st->skipped_cap, st->n_skipped + 1, 1024) != SE_OK) {
		return se_error_set(err, SE_ENOMEM, "out of memory");
	} else {
		st->skipped[st->n_skipped++] = lent_id;
	}
	/* The reader sends this key's later rows unnumbered: keep the answer. */
	if (se_strmap_count(st->deal_cache) >= DEAL_CACHE_LENT_MAX)
		se_strmap_clear(st->deal_cache);
	if (se_strmap_put(st->deal_cache, key, len, *id) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	return SE_OK;
}

int se_store_use_lent_deal(se_store *st, const char *key, size_t len, int64_t lent_id, int is_new,
                           int64_t *id, se_error *err)
{
	int n = st->n_queued_deals;

	if (st->deal_state != DEALS_LENT || !st->lent_valid || lent_id == 0)
		return se_store_intern_deal(st, key, len, id, err);
	if (len > SE_STORE_MAX_KEY && is_new)
		return se_error_set(err, SE_EINPUT, "deal id longer than %d bytes", SE_STORE_MAX_KEY);
	if (is_new == SE_DEAL_MAYBE_NEW)
		return check_maybe_new(st, key, len, lent_id, id, err);
	*id = lent_to_id(st, lent_id);
	if (!is_new)
		return SE_OK;
	st->queued_deal_ids[n] = *id;
	memcpy(st->queued_deal_keys[n], key, len);
	st->queued_deal_lens[n] = len;
	st->lent_max = *id;
	if (++st->n_queued_deals < DEAL_GROUP)
		return SE_OK;
	return flush_deal_group(st, err);
}

void se_store_return_deals(se_store *st, se_deal_numbers *dn)
{
	int whole;

	if (dn == NULL)
		return;
	whole = dn->old == NULL && !dn->failed;
	se_strmap_free(dn->old);
	free(dn->filter);
	free(st->skipped);
	st->skipped = NULL;
	st->n_skipped = st->skipped_cap = 0;
	if (st->deal_state == DEALS_LENT && st->lent_valid && whole) {
		se_strmap_free(st->deal_cache);
		st->deal_cache = dn->map;
		st->next_deal = dn->next;
		/* Numbers the reader gave to rows never stored leave gaps: the
		 * table's highest id is what counts from here on. */
		st->deal_state = st->lent_max == dn->next - 1 ? DEALS_COMPLETE : DEALS_UNKNOWN;
	} else {
		/* A turned map lacks keys: the next import decides afresh. */
		se_strmap_free(dn->map);
		se_strmap_clear(st->deal_cache);
		st->deal_state = DEALS_UNKNOWN;
	}
	free(dn);
}

/* ---- reading names ------------------------------------------------------ */

void se_store_free_names(char **names, uint32_t count)
{
	if (names == NULL)
		return;
	for (uint32_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

int se_store_names(se_store *st, se_dict dict, char ***names, uint32_t *count, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DICT_ALL0 + dict];
	char **v = NULL;
	uint32_t n = 1, cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		const char *name = (const char *)sqlite3_column_text(s, 1);

		if (id <= 0 || id >= UINT32_MAX)
			continue;
		if ((uint32_t)id >= cap) {
			uint32_t ncap = cap ? cap : 64;
			char **nv;

			while (ncap <= (uint32_t)id)
				ncap *= 2;
			nv = realloc(v, ncap * sizeof *v);
			if (nv == NULL)
				goto nomem;
			memset(nv + cap, 0, (ncap - cap) * sizeof *nv);
			v = nv;
			cap = ncap;
		}
		if ((v[id] = strdup(name ? name : "")) == NULL)
			goto nomem;
		if ((uint32_t)id + 1 > n)
			n = (uint32_t)id + 1;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		se_store_free_names(v, cap);
		return db_error(st, err, "reading names");
	}
	if (v == NULL && (v = calloc(1, sizeof *v)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	*names = v;
	*count = n;
	return SE_OK;
nomem:
	sqlite3_reset(s);
	se_store_free_names(v, cap);
	return se_error_set(err, SE_ENOMEM, "out of memory");
}

int se_store_deal_key(se_store *st, int64_t id, char *buf, size_t size, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_KEY];
	int rc;

	if ((rc = flush_queued_deals(st, err)) != SE_OK)
		return rc;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return SE_OK;
	if (rc == SQLITE_DONE)
		return se_error_set(err, SE_EDB, "deal %lld not found", (long long)id);
	return db_error(st, err, "reading a deal");
}
