/*
 * strmap.h: a string -> integer hash map.
 *
 * Owns: the in-memory dictionaries the importer interns names with (deal
 * keys, managers, statuses) and the rules' status-name lookups.  Keys are
 * byte strings (not necessarily NUL-free) copied into blocks the map owns,
 * open addressing with linear probing keeps a lookup to one or two cache
 * lines.
 *
 * Never: shrinks or deletes single keys (callers clear the whole map).
 */
#ifndef SE_STRMAP_H
#define SE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct se_strmap se_strmap;

se_strmap *se_strmap_new(void);
void se_strmap_free(se_strmap *m);
void se_strmap_clear(se_strmap *m);
size_t se_strmap_count(const se_strmap *m);
/* About the memory a map of `count` short keys takes (its slot array), for
 * budgeting beside a map one may not look at (lent to another thread). */
size_t se_strmap_bytes(size_t count);
/* What m's slot array takes now (a reserved map takes more than its count
 * says). */
size_t se_strmap_slot_bytes(const se_strmap *m);
/* Makes room for count keys at once, so filling the map up to there never
 * grows it (each growth allocates, zeroes and rehashes the whole array
 * again); 0, or SE_ENOMEM (the map is unchanged and still works). */
int se_strmap_reserve(se_strmap *m, size_t count);

/* 1 and *value when found, 0 when not. */
int se_strmap_get(const se_strmap *m, const char *key, size_t len, int64_t *value);
/* Starts loading the slot where key's lookup begins into the cache: a
 * caller with many keys at hand asks for a few ahead of the one it looks
 * up, so the misses of a large map overlap instead of queueing. */
void se_strmap_prefetch(const se_strmap *m, const char *key, size_t len);
/* Inserts or overwrites; 0, or SE_ENOMEM. */
int se_strmap_put(se_strmap *m, const char *key, size_t len, int64_t value);
/* The map's own 64-bit hash of a key, for a caller that looks one key up
 * in several maps (or a filter kept beside them) and hashes it once: the
 * _hashed calls take it, and must be given exactly this. */
uint64_t se_strmap_hash(const char *key, size_t len);
int se_strmap_get_hashed(const se_strmap *m, const char *key, size_t len, uint64_t hash, int64_t *value);
int se_strmap_put_hashed(se_strmap *m, const char *key, size_t len, uint64_t hash, int64_t value);
void se_strmap_prefetch_hashed(const se_strmap *m, uint64_t hash);
/* Calls fn for every key, in no particular order; fn must not change m. */
void se_strmap_each(const se_strmap *m, void (*fn)(void *ctx, const char *key, size_t len, int64_t value),
                    void *ctx);

#endif
