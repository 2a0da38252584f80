/* SPDX-License-Identifier: MIT */
/*
 * array.h - the one growable-array helper (not installed).
 *
 *	if (VMTI_ARRAY_GROW(set->v, set->cap, set->n + 1) < 0)
 *		return -ENOMEM;
 *	set->v[set->n++] = x;
 *
 * The capacity doubles (so n appends cost O(n) copies), starting at 8
 * elements or 64 bytes, whichever is more.  On failure the array and its
 * capacity are unchanged and still valid, so callers need no rollback.
 */
#ifndef VMT_ARRAY_H
#define VMT_ARRAY_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * vmti_array_grow() - make *@pp (an array of @size-byte elements, pointed to
 * by the pointer at @pp, holding *@cap elements) hold at least @need.
 * Returns 0, or -ENOMEM (allocation failure or a size that overflows).
 * The pointer is passed by address as void * and moved with memcpy, so any
 * element type can use it without breaking the aliasing rules.
 */
static inline int vmti_array_grow(void *pp, size_t *cap, size_t need, size_t size)
{
	size_t nc = *cap;
	void *p;

	if (need <= nc)
		return 0;
	if (size == 0 || need > SIZE_MAX / size)
		return -ENOMEM;
	if (nc < 8)
		nc = 8;
	if (nc < 64 / size)
		nc = 64 / size;
	while (nc < need)
		nc = nc > SIZE_MAX / 2 / size ? need : nc * 2;
	memcpy(&p, pp, sizeof(p));
	p = realloc(p, nc * size);
	if (!p)
		return -ENOMEM;
	memcpy(pp, &p, sizeof(p));
	*cap = nc;
	return 0;
}

/* @arr: an lvalue pointer; @cap: an lvalue size_t; @need: elements wanted. */
#define VMTI_ARRAY_GROW(arr, cap, need) vmti_array_grow(&(arr), &(cap), (need), sizeof(*(arr)))

#endif /* VMT_ARRAY_H */
