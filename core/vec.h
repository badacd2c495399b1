/*
 * vec.h: growing a malloc'd array by doubling.
 *
 * Owns: the one copy of "make room for N elements": capacity doubles (from
 * a first size) so appending is amortised O(1), stays within a cap when
 * the caller has one, and every multiplication is checked, so a huge count
 * is an SE_ENOMEM rather than a wrapped size and a short buffer.
 *
 * Never: shrinks, initialises the new elements, or changes the array or
 * its capacity when it fails (the caller still owns, and frees, the old
 * one).
 */
#ifndef SE_VEC_H
#define SE_VEC_H

#include "salesengine.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Makes *array (an array of elem-byte elements, capacity *cap elements)
 * hold at least need elements.  A new capacity is *cap (or first, when
 * *cap is 0) doubled until it is at least need, then held to max when max
 * is not 0.  array is the address of the caller's typed pointer (T **):
 * it is read and written with memcpy, so no pointer is reinterpreted
 * through a different type.  0, or SE_ENOMEM (nothing changed) when the
 * allocation fails, need exceeds max, or the bytes would exceed PTRDIFF_MAX. */
static inline int se_vec_reserve(void *array, size_t *cap, size_t need, size_t elem, size_t first,
                                 size_t max)
{
	size_t ncap = *cap ? *cap : (first ? first : 1);
	void *old, *grown;

	if (need <= *cap)
		return SE_OK;
	if (max != 0 && need > max)
		return SE_ENOMEM;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (max != 0 && ncap > max)
		ncap = max;
	/* No object may be larger than PTRDIFF_MAX (pointer differences in it
	 * must fit): beyond that is out of memory, checked before multiplying. */
	if (elem != 0 && ncap > (size_t)PTRDIFF_MAX / elem)
		return SE_ENOMEM;
	memcpy(&old, array, sizeof old);
	if ((grown = realloc(old, ncap * elem)) == NULL)
		return SE_ENOMEM;
	memcpy(array, &grown, sizeof grown);
	*cap = ncap;
	return SE_OK;
}

/* se_vec_reserve for a typed pointer v with its capacity cap (lvalues),
 * no cap on the size: SE_VEC_RESERVE(b->rows, b->cap_rows, n + 1, 64). */
#define SE_VEC_RESERVE(v, cap, need, first) \
	se_vec_reserve(&(v), &(cap), (need), sizeof *(v), (first), 0)

#endif
