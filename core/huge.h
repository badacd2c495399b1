/*
 * huge.h: big arrays in transparent huge pages.
 *
 * Owns: allocating the arrays of megabytes a report fills once (open
 * deals, stays, samples, the cube's counters) so that filling them costs a
 * page fault per 2 MiB instead of one per 4 KiB.  On the virtual machines
 * reports run on a fault costs microseconds: 20,000 of them were a fifth
 * of a forecast's CPU time on a million deals.  Where the system grants no
 * huge pages (transparent_hugepage "never") the arrays are ordinary
 * memory, at the usual cost.
 *
 * Never: allocates a small array this way (a huge page each would waste
 * memory), or returns memory that free() cannot release.
 */
#ifndef SE_HUGE_H
#define SE_HUGE_H

#include "salesengine.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SE_HUGE_PAGE ((size_t)2 << 20)

/* A block of bytes (at least one huge page) aligned to a huge page and
 * advised to use them; NULL when smaller or not granted (then the caller
 * takes ordinary memory).  Not zeroed.  The block is rounded up to whole
 * huge pages, all advised: a tail left out would fault 4 KiB at a time,
 * up to 511 faults an array (about 3,000 in a forecast on a million
 * deals). */
static inline void *se_huge_alloc(size_t bytes)
{
#if defined(MADV_HUGEPAGE)
	void *p = NULL;

	if (bytes < SE_HUGE_PAGE || bytes > SIZE_MAX - SE_HUGE_PAGE)
		return NULL;
	bytes = (bytes + SE_HUGE_PAGE - 1) / SE_HUGE_PAGE * SE_HUGE_PAGE;
	if (posix_memalign(&p, SE_HUGE_PAGE, bytes) != 0)
		return NULL;
	madvise(p, bytes, MADV_HUGEPAGE);
	return p;
#else
	(void)bytes;
	return NULL;
#endif
}

/* malloc, in huge pages when big. */
static inline void *se_huge_malloc(size_t bytes)
{
	void *p = se_huge_alloc(bytes);

	return p != NULL ? p : malloc(bytes ? bytes : 1);
}

/* se_vec_reserve (vec.h) for arrays that may grow to megabytes: a new
 * capacity of a huge page or more moves the array into huge pages (the
 * copy is what realloc might have done anyway); from a megabyte on it
 * grows leap-fold (a power of two, at least 2).  0 or SE_ENOMEM, nothing
 * changed on failure. */
static inline int se_vec_reserve_huge_leap(void *array, size_t *cap, size_t need, size_t elem, size_t first,
                                           size_t leap)
{
	size_t ncap = *cap ? *cap : (first ? first : 1), big;
	void *old, *grown;

	if (need <= *cap)
		return SE_OK;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (elem != 0 && ncap > (size_t)PTRDIFF_MAX / elem)
		return SE_ENOMEM;
	/* Doubling, until the array is in huge pages: from there it grows
	 * leap-fold.  Each move copies the array and faults in the new block,
	 * so doubling touches twice the final size (a tenth of a diagnostic
	 * report's time on a million deals), eightfold a seventh more; the
	 * room not yet written is address space, not memory.  Where that
	 * much address space is refused (a strict overcommit limit), doubling. */
	big = elem != 0 && *cap * elem >= SE_HUGE_PAGE / 2 && ncap <= (size_t)PTRDIFF_MAX / elem / (leap / 2)
	              ? ncap * (leap / 2) : ncap;
	memcpy(&old, array, sizeof old);
	if ((grown = se_huge_alloc(big * elem)) != NULL ||
	    (big != ncap && (big = ncap, grown = se_huge_alloc(ncap * elem)) != NULL)) {
		if (old != NULL)
			memcpy(grown, old, *cap * elem);
		free(old);
		ncap = big;
	} else if ((grown = realloc(old, ncap * elem)) == NULL) {
		return SE_ENOMEM;
	}
	memcpy(array, &grown, sizeof grown);
	*cap = ncap;
	return SE_OK;
}

static inline int se_vec_reserve_huge(void *array, size_t *cap, size_t need, size_t elem, size_t first)
{
	return se_vec_reserve_huge_leap(array, cap, need, elem, first, 8);
}

#define SE_VEC_RESERVE_HUGE(v, cap, need, first) \
	se_vec_reserve_huge(&(v), &(cap), (need), sizeof *(v), (first))
/* The same growing leap-fold past a megabyte. */
#define SE_VEC_RESERVE_LEAP(v, cap, need, first, leap) \
	se_vec_reserve_huge_leap(&(v), &(cap), (need), sizeof *(v), (first), (leap))

#endif
