/* SPDX-License-Identifier: MIT */
/*
 * units.c - the graph of a units set: unique names, registration, dependency
 * edges and their removal, and the topological order that refuses cycles.
 * The runner (units-run.c) walks this graph to run operations.
 *
 * Every mutator refuses with -EBUSY while an operation runs, so the graph is
 * frozen for the whole operation and the scheduler walks it without copying.
 *
 * Cycles are refused when an edge is added, using a dynamic topological
 * order (Pearce and Kelly): every unit carries an order key with
 * key(dependency) < key(dependent).  An edge that already agrees with the
 * keys costs O(1); otherwise only the units whose keys lie between the two
 * endpoints are searched and re-keyed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/units.h>

#include "array.h"
#include "units-internal.h"

/* ---- names ---- */

static uint64_t name_hash(const char *s, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static int name_check(const char *name, size_t *len)
{
	size_t n = strnlen(name, VMT_UNIT_NAME_MAX + 1);

	if (n == 0)
		return -EINVAL;
	if (n > VMT_UNIT_NAME_MAX)
		return -ENAMETOOLONG;
	/*
	 * Printable ASCII (the space included) but '"' and '\\': names are
	 * section names in snapshots and appear in messages and JSON, where
	 * they stay readable without escapes.
	 */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			return -EINVAL;
	}
	*len = n;
	return 0;
}

vmt_unit *vmti_units_lookup(const vmt_units *s, const char *name, size_t len)
{
	if (!s->nbuckets)
		return NULL;
	for (vmt_unit *u = s->buckets[name_hash(name, len) & (s->nbuckets - 1)]; u; u = u->hnext)
		if (u->name_len == len && memcmp(u->name, name, len) == 0)
			return u;
	return NULL;
}

static int hash_grow(vmt_units *s)
{
	size_t nb = s->nbuckets ? s->nbuckets * 2 : 64;
	vmt_unit **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (vmt_unit *u = s->head; u; u = u->next) {
		size_t i = name_hash(u->name, u->name_len) & (nb - 1);

		u->hnext = b[i];
		b[i] = u;
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = nb;
	return 0;
}

static void hash_remove(vmt_units *s, vmt_unit *u)
{
	vmt_unit **pp = &s->buckets[name_hash(u->name, u->name_len) & (s->nbuckets - 1)];

	while (*pp != u)
		pp = &(*pp)->hnext;
	*pp = u->hnext;
}

static void unit_free(vmt_unit *u)
{
	free(u->deps);
	free(u->dents);
	free(u);
}

void vmti_units_graph_free(vmt_units *s)
{
	for (vmt_unit *u = s->head, *next; u; u = next) {
		next = u->next;
		unit_free(u);
	}
	free(s->buckets);
	s->head = s->tail = NULL;
	s->buckets = NULL;
	s->count = s->nbuckets = 0;
}

/* ---- locking for a change ---- */

static _Thread_local struct vmti_inspect_frame *inspect_frames;

void vmti_units_inspect_push(struct vmti_inspect_frame *f, const vmt_units *s)
{
	f->set = s;
	f->up = inspect_frames;
	inspect_frames = f;
}

void vmti_units_inspect_pop(struct vmti_inspect_frame *f)
{
	inspect_frames = f->up;
}

static bool inspecting_here(const vmt_units *s)
{
	for (const struct vmti_inspect_frame *f = inspect_frames; f; f = f->up)
		if (f->set == s)
			return true;
	return false;
}

int vmti_units_lock_for_change(vmt_units *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->inspecting && inspecting_here(s)) {
		pthread_mutex_unlock(&s->lock);
		return -EBUSY;
	}
	while (s->inspecting)
		pthread_cond_wait(&s->idle_cond, &s->lock);
	return 0;
}

/* ---- registration and edges ---- */

int vmt_units_add(vmt_units *s, const char *name, const struct vmt_unit_ops *ops, void *userdata,
		  vmt_unit **ret)
{
	vmt_unit *u;
	size_t len;
	int r;

	if (!s || !name)
		return -EINVAL;
	r = name_check(name, &len);
	if (r)
		return r;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	if (vmti_units_lock_for_change(s) < 0) {
		free(u);
		return -EBUSY;
	}
	if (s->busy) {
		r = -EBUSY;
		goto fail;
	}
	if (vmti_units_lookup(s, name, len)) {
		r = -EEXIST;
		goto fail;
	}
	if (s->count >= s->nbuckets) {
		r = hash_grow(s);
		if (r)
			goto fail;
	}
	u->set = s;
	if (ops)
		u->ops = *ops;
	u->userdata = userdata;
	u->state = VMT_UNIT_STOPPED;
	u->key = s->next_key++;
	memcpy(u->name, name, len);
	u->name_len = len;
	u->prev = s->tail;
	if (s->tail)
		s->tail->next = u;
	else
		s->head = u;
	s->tail = u;
	{
		size_t i = name_hash(name, len) & (s->nbuckets - 1);

		u->hnext = s->buckets[i];
		s->buckets[i] = u;
	}
	s->count++;
	pthread_mutex_unlock(&s->lock);
	if (ret)
		*ret = u;
	return 0;
fail:
	pthread_mutex_unlock(&s->lock);
	free(u);
	return r;
}

static void array_del(vmt_unit **a, uint32_t *n, const vmt_unit *x)
{
	for (uint32_t i = 0; i < *n; i++) {
		if (a[i] == x) {
			memmove(&a[i], &a[i + 1], (*n - i - 1) * sizeof(*a));
			(*n)--;
			return;
		}
	}
}

int vmt_unit_remove(vmt_unit *u)
{
	vmt_units *s;

	if (!u)
		return -EINVAL;
	s = u->set;
	if (vmti_units_lock_for_change(s) < 0)
		return -EBUSY;
	if (s->busy) {
		pthread_mutex_unlock(&s->lock);
		return -EBUSY;
	}
	for (uint32_t i = 0; i < u->ndeps; i++)
		array_del(u->deps[i]->dents, &u->deps[i]->ndents, u);
	for (uint32_t i = 0; i < u->ndents; i++)
		array_del(u->dents[i]->deps, &u->dents[i]->ndeps, u);
	hash_remove(s, u);
	if (u->prev)
		u->prev->next = u->next;
	else
		s->head = u->next;
	if (u->next)
		u->next->prev = u->prev;
	else
		s->tail = u->prev;
	s->count--;
	pthread_mutex_unlock(&s->lock);
	unit_free(u);
	return 0;
}

struct ulist {
	vmt_unit **v;
	size_t n, cap;
};

static int ulist_push(struct ulist *l, vmt_unit *u)
{
	if (VMTI_ARRAY_GROW(l->v, l->cap, l->n + 1) < 0)
		return -ENOMEM;
	l->v[l->n++] = u;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	uint64_t ka = (*(vmt_unit *const *)a)->key, kb = (*(vmt_unit *const *)b)->key;

	return (ka > kb) - (ka < kb);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t ka = *(const uint64_t *)a, kb = *(const uint64_t *)b;

	return (ka > kb) - (ka < kb);
}

/*
 * Collect the units reachable from @from (through dependents if @forward,
 * dependencies otherwise) whose keys lie strictly inside (lo, hi), plus
 * @from.  Forward, reaching @target means the new edge closes a cycle.
 */
static int region(vmt_unit *from, bool forward, uint64_t lo, uint64_t hi, uint64_t stamp,
		  const vmt_unit *target, struct ulist *out, struct ulist *stack)
{
	int r;

	stack->n = 0;
	from->mark = stamp;
	if ((r = ulist_push(stack, from)) || (r = ulist_push(out, from)))
		return r;
	while (stack->n) {
		vmt_unit *u = stack->v[--stack->n];
		vmt_unit **next = forward ? u->dents : u->deps;
		uint32_t nn = forward ? u->ndents : u->ndeps;

		for (uint32_t i = 0; i < nn; i++) {
			vmt_unit *v = next[i];

			if (v == target)
				return -ELOOP;
			if (v->mark == stamp || v->key <= lo || v->key >= hi)
				continue;
			v->mark = stamp;
			if ((r = ulist_push(stack, v)) || (r = ulist_push(out, v)))
				return r;
		}
	}
	return 0;
}

/*
 * Re-key so that every unit of @back (dep and what it depends on) comes
 * before every unit of @fwd (unit and what depends on it), reusing the
 * same keys: units outside the region keep theirs, so the order stays valid.
 */
static int rekey(struct ulist *back, struct ulist *fwd)
{
	size_t n = back->n + fwd->n;
	uint64_t *keys = malloc(n * sizeof(*keys));

	if (!keys)
		return -ENOMEM;
	qsort(back->v, back->n, sizeof(*back->v), key_cmp);
	qsort(fwd->v, fwd->n, sizeof(*fwd->v), key_cmp);
	for (size_t i = 0; i < back->n; i++)
		keys[i] = back->v[i]->key;
	for (size_t i = 0; i < fwd->n; i++)
		keys[back->n + i] = fwd->v[i]->key;
	qsort(keys, n, sizeof(*keys), u64_cmp);
	for (size_t i = 0; i < back->n; i++)
		back->v[i]->key = keys[i];
	for (size_t i = 0; i < fwd->n; i++)
		fwd->v[i]->key = keys[back->n + i];
	free(keys);
	return 0;
}

static int add_edge(vmt_units *s, vmt_unit *unit, vmt_unit *dep)
{
	struct ulist fwd = { 0 }, back = { 0 }, stack = { 0 };
	int r;

	if (unit == dep)
		return -ELOOP;
	for (uint32_t i = 0; i < unit->ndeps; i++)
		if (unit->deps[i] == dep)
			return -EALREADY;
	/* Reserve first so that nothing changes when an allocation fails. */
	if (VMTI_ARRAY_GROW(unit->deps, unit->capdeps, unit->ndeps + 1) < 0 ||
	    VMTI_ARRAY_GROW(dep->dents, dep->capdents, dep->ndents + 1) < 0)
		return -ENOMEM;
	if (dep->key > unit->key) {
		uint64_t lo = unit->key, hi = dep->key;

		s->stamp += 2;
		r = region(unit, true, lo, hi, s->stamp, dep, &fwd, &stack);
		if (!r)
			r = region(dep, false, lo, hi, s->stamp + 1, NULL, &back, &stack);
		if (!r)
			r = rekey(&back, &fwd);
		free(fwd.v);
		free(back.v);
		free(stack.v);
		if (r)
			return r;
	}
	unit->deps[unit->ndeps++] = dep;
	dep->dents[dep->ndents++] = unit;
	return 0;
}

int vmt_unit_depends_on(vmt_unit *unit, vmt_unit *dep)
{
	vmt_units *s;
	int r;

	if (!unit || !dep || unit->set != dep->set)
		return -EINVAL;
	s = unit->set;
	if (vmti_units_lock_for_change(s) < 0)
		return -EBUSY;
	r = s->busy ? -EBUSY : add_edge(s, unit, dep);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int vmt_unit_dependency_of(vmt_unit *unit, vmt_unit *dependent)
{
	return vmt_unit_depends_on(dependent, unit);
}

int vmt_units_find(vmt_units *s, const char *name, vmt_unit **ret)
{
	vmt_unit *u;

	if (!s || !name || !ret)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	u = vmti_units_lookup(s, name, strnlen(name, VMT_UNIT_NAME_MAX + 1));
	pthread_mutex_unlock(&s->lock);
	if (!u)
		return -ENOENT;
	*ret = u;
	return 0;
}

const char *vmt_unit_name(const vmt_unit *u)
{
	return u ? u->name : NULL;
}

int vmt_unit_state(const vmt_unit *u)
{
	int st;

	if (!u)
		return -EINVAL;
	pthread_mutex_lock(&u->set->lock);
	st = u->state;
	pthread_mutex_unlock(&u->set->lock);
	return st;
}

int vmt_units_count(vmt_units *s)
{
	int n;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	n = (int)s->count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int vmt_units_running(vmt_units *s)
{
	int r;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	r = s->running;
	pthread_mutex_unlock(&s->lock);
	return r;
}
