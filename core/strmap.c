/*
 * strmap.c: open addressing over a power-of-two slot array, grown at 50%
 * load.  Each slot keeps 32 bits of the hash, so a probe compares bytes
 * only when those match.  Short keys sit in the slot; longer ones in large blocks
 * (never moved, so slots can point into them) that are freed together.
 */
#include "strmap.h"
#include "salesengine.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BLOCK_BYTES (256u << 10)

/* Keys up to INLINE_KEY bytes live in the slot itself, so a lookup of a
 * short key (most deal ids, every name) touches one cache line, not two. */
#define INLINE_KEY 16

/* 32 bytes, two to a cache line: a million deal keys take 64 MiB, not the
 * 80 of a slot with the whole hash and a separate "used" word.  The low 32
 * bits of the hash suffice for the position (no map has 2^32 slots). */
typedef struct slot {
	uint32_t hash;
	uint32_t len1;              /* key length + 1; 0: the slot is free */
	int64_t value;
	union {
		const char *ptr;            /* len > INLINE_KEY: in a block */
		char bytes[INLINE_KEY];
	} key;
} slot;

static const char *slot_key(const slot *s)
{
	return s->len1 - 1 > INLINE_KEY ? s->key.ptr : s->key.bytes;
}

typedef struct block {
	struct block *next;
	size_t used, cap;
	char data[];
} block;

struct se_strmap {
	slot *slots;
	size_t mask;   /* slot count - 1 */
	size_t count;
	block *blocks;
};

/* FNV-1a over 8-byte words, well mixed by the final avalanche.  The bytes
 * a whole word leaves go in as one more word read to the key's end,
 * overlapping the last full one (shorter keys: two overlapping halves, or
 * their first, middle and last byte): one multiply instead of one per
 * byte.  Every byte is read once at least; the length, in the seed, tells
 * keys apart that the overlap would make read alike. */
static uint64_t mix_word(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static uint64_t hash_bytes(const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	/* The length spread over the whole seed: xored in as it is, a key
	 * one byte longer whose word differed in the low bit only hashed the
	 * same. */
	uint64_t h = (0xcbf29ce484222325ull ^ len) * 0x9e3779b97f4a7c15ull;

	if (len >= 8) {
		uint64_t w;

		for (size_t i = 0; i + 8 < len; i += 8) {
			memcpy(&w, u + i, 8);
			h = mix_word(h, w);
		}
		memcpy(&w, u + len - 8, 8);
		h = mix_word(h, w);
	} else if (len >= 4) {
		uint32_t a, b;

		memcpy(&a, u, 4);
		memcpy(&b, u + len - 4, 4);
		h = mix_word(h, (uint64_t)a << 32 | b);
	} else if (len > 0) {
		h = mix_word(h, (uint64_t)u[0] | (uint64_t)u[len / 2] << 8 | (uint64_t)u[len - 1] << 16);
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

se_strmap *se_strmap_new(void)
{
	se_strmap *m = calloc(1, sizeof *m);

	if (m == NULL)
		return NULL;
	m->slots = calloc(64, sizeof *m->slots);
	if (m->slots == NULL) {
		free(m);
		return NULL;
	}
	m->mask = 63;
	return m;
}

/* Slot arrays of a few MiB and more (a million deal keys take 64) are
 * mapped on their own, on 2 MiB pages where the system allows it: each
 * lookup is a random access, and on 4 KiB pages most of them also missed
 * the TLB.  Their own mapping also gives the memory back when the map
 * grows or goes, where malloc may keep it in its heap. */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t slots_bytes(size_t n)
{
	return (n * sizeof(slot) + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

static slot *slots_alloc(size_t n)
{
	void *p;

	if (n * sizeof(slot) < 2 * HUGE_PAGE)
		return calloc(n, sizeof(slot));
	p = mmap(NULL, slots_bytes(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, slots_bytes(n), MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
#endif
	return p; /* zeroed */
}

static void slots_free(slot *slots, size_t n)
{
	if (n * sizeof(slot) < 2 * HUGE_PAGE)
		free(slots);
	else if (slots != NULL)
		munmap(slots, slots_bytes(n));
}

static void free_blocks(block *b)
{
	while (b != NULL) {
		block *next = b->next;

		free(b);
		b = next;
	}
}

void se_strmap_free(se_strmap *m)
{
	if (m == NULL)
		return;
	free_blocks(m->blocks);
	slots_free(m->slots, m->mask + 1);
	free(m);
}

void se_strmap_clear(se_strmap *m)
{
	free_blocks(m->blocks);
	m->blocks = NULL;
	memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
	m->count = 0;
}

size_t se_strmap_count(const se_strmap *m)
{
	return m->count;
}

size_t se_strmap_bytes(size_t count)
{
	size_t slots = 64;

	while (count * 2 > slots)
		slots *= 2;
	return slots * sizeof(slot);
}

static slot *find_slot(slot *slots, size_t mask, const char *key, size_t len, uint32_t h)
{
	size_t i = (size_t)h & mask;

	for (;;) {
		slot *s = &slots[i];

		if (s->len1 == 0)
			return s;
		if (s->hash == h && s->len1 == len + 1 && memcmp(slot_key(s), key, len) == 0)
			return s;
		i = (i + 1) & mask;
	}
}

int se_strmap_get(const se_strmap *m, const char *key, size_t len, int64_t *value)
{
	return se_strmap_get_hashed(m, key, len, hash_bytes(key, len), value);
}

int se_strmap_get_hashed(const se_strmap *m, const char *key, size_t len, uint64_t hash, int64_t *value)
{
	slot *s = find_slot(m->slots, m->mask, key, len, (uint32_t)hash);

	if (s->len1 == 0)
		return 0;
	*value = s->value;
	return 1;
}

static int resize_slots(se_strmap *m, size_t ncount)
{
	slot *ns = slots_alloc(ncount);

	if (ns == NULL)
		return SE_ENOMEM;
	for (size_t i = 0; i <= m->mask; i++) {
		slot *old = &m->slots[i];

		if (old->len1 != 0)
			*find_slot(ns, ncount - 1, slot_key(old), old->len1 - 1, old->hash) = *old;
	}
	slots_free(m->slots, m->mask + 1);
	m->slots = ns;
	m->mask = ncount - 1;
	return SE_OK;
}

static int grow_slots(se_strmap *m)
{
	return resize_slots(m, (m->mask + 1) * 2);
}

int se_strmap_reserve(se_strmap *m, size_t count)
{
	size_t slots = m->mask + 1;

	if (count > SIZE_MAX / 4 / sizeof(slot))
		return SE_ENOMEM; /* no array that large, and slots would wrap */
	while (count * 2 > slots)
		slots *= 2;
	return slots > m->mask + 1 ? resize_slots(m, slots) : SE_OK;
}

size_t se_strmap_slot_bytes(const se_strmap *m)
{
	return (m->mask + 1) * sizeof(slot);
}

static const char *copy_key(se_strmap *m, const char *key, size_t len)
{
	block *b = m->blocks;
	char *dst;

	if (b == NULL || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > BLOCK_BYTES ? len + 1 : BLOCK_BYTES;

		b = malloc(sizeof *b + cap);
		if (b == NULL)
			return NULL;
		b->next = m->blocks;
		b->used = 0;
		b->cap = cap;
		m->blocks = b;
	}
	dst = b->data + b->used;
	memcpy(dst, key, len);
	dst[len] = '\0';
	b->used += len + 1;
	return dst;
}

void se_strmap_prefetch(const se_strmap *m, const char *key, size_t len)
{
	se_strmap_prefetch_hashed(m, hash_bytes(key, len));
}

void se_strmap_prefetch_hashed(const se_strmap *m, uint64_t hash)
{
	const slot *s = &m->slots[(uint32_t)hash & m->mask];

	__builtin_prefetch(s);
	__builtin_prefetch((const char *)(s + 1) - 1); /* a calloc'd array may be 16-aligned */
}

uint64_t se_strmap_hash(const char *key, size_t len)
{
	return hash_bytes(key, len);
}

void se_strmap_each(const se_strmap *m, void (*fn)(void *ctx, const char *key, size_t len, int64_t value),
                    void *ctx)
{
	for (size_t i = 0; i <= m->mask; i++) {
		const slot *s = &m->slots[i];

		if (s->len1 != 0)
			fn(ctx, slot_key(s), s->len1 - 1, s->value);
	}
}

int se_strmap_put(se_strmap *m, const char *key, size_t len, int64_t value)
{
	return se_strmap_put_hashed(m, key, len, hash_bytes(key, len), value);
}

int se_strmap_put_hashed(se_strmap *m, const char *key, size_t len, uint64_t hash, int64_t value)
{
	uint32_t h = (uint32_t)hash;
	slot *s = find_slot(m->slots, m->mask, key, len, h);

	if (s->len1 != 0) {
		s->value = value;
		return SE_OK;
	}
	if (len >= UINT32_MAX)
		return SE_ENOMEM;
	if ((m->count + 1) * 2 > m->mask + 1) {
		if (grow_slots(m) != SE_OK)
			return SE_ENOMEM;
		s = find_slot(m->slots, m->mask, key, len, h);
	}
	if (len > INLINE_KEY) {
		if ((s->key.ptr = copy_key(m, key, len)) == NULL)
			return SE_ENOMEM;
	} else {
		memcpy(s->key.bytes, key, len);
	}
	s->hash = h;
	s->len1 = (uint32_t)len + 1;
	s->value = value;
	m->count++;
	return SE_OK;
}
