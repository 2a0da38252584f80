/* SPDX-License-Identifier: MIT */
/* wheel.c - hierarchical timing wheel with exact deadlines; see wheel.h. */
#include <string.h>

#include "wheel.h"

void vmti_wheel_init(struct vmti_wheel *w, vmt_ns now)
{
	memset(w, 0, sizeof(*w));
	w->cur = now;
	w->next = VMT_NS_NEVER;
	w->next_valid = true;
}

static inline void link_head(struct vmti_wnode **head, struct vmti_wnode *n)
{
	n->next = *head;
	if (n->next)
		n->next->pprev = &n->next;
	*head = n;
	n->pprev = head;
}

/* Puts @n on the near list or in the slot its deadline's digits select. */
static void place(struct vmti_wheel *w, struct vmti_wnode *n)
{
	uint64_t dt = n->deadline >> VMTI_WHEEL_GRAN_SHIFT;
	uint64_t ct = w->cur >> VMTI_WHEEL_GRAN_SHIFT;

	if (dt <= ct) {
		n->where = VMTI_WHEEL_NEAR;
		link_head(&w->near, n);
		return;
	}
	unsigned bit = 63 - (unsigned)__builtin_clzll(dt ^ ct);
	unsigned lvl = bit / VMTI_WHEEL_BITS;
	unsigned s = (unsigned)(dt >> (lvl * VMTI_WHEEL_BITS)) & (VMTI_WHEEL_SLOTS - 1);

	n->where = (uint16_t)(lvl * VMTI_WHEEL_SLOTS + s);
	link_head(&w->slot[lvl][s], n);
	w->occupied[lvl] |= UINT64_C(1) << s;
}

void vmti_wheel_insert(struct vmti_wheel *w, struct vmti_wnode *n)
{
	n->dead = false;
	place(w, n);
	w->count++;
	if (w->next_valid && n->deadline < w->next)
		w->next = n->deadline;
}

void vmti_wheel_remove(struct vmti_wheel *w, struct vmti_wnode *n)
{
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	n->pprev = NULL;
	n->next = NULL;
	n->dead = false;
	if (n->where != VMTI_WHEEL_NEAR) {
		unsigned lvl = n->where / VMTI_WHEEL_SLOTS, s = n->where % VMTI_WHEEL_SLOTS;

		if (!w->slot[lvl][s])
			w->occupied[lvl] &= ~(UINT64_C(1) << s);
	}
	w->count--;
	if (w->next_valid && n->deadline == w->next && w->count)
		w->next_valid = false;
	if (!w->count) {
		w->next = VMT_NS_NEVER;
		w->next_valid = true;
	}
}

/* First tick of slot @s of level @lvl, relative to the cursor. */
static uint64_t slot_start_tick(const struct vmti_wheel *w, unsigned lvl, unsigned s)
{
	unsigned up = (lvl + 1) * VMTI_WHEEL_BITS;
	uint64_t ct = w->cur >> VMTI_WHEEL_GRAN_SHIFT;

	return ((ct >> up) << up) | ((uint64_t)s << (lvl * VMTI_WHEEL_BITS));
}

/* First ns after slot @s of level @lvl, or VMT_NS_NEVER past the end of time. */
static vmt_ns slot_end_ns(const struct vmti_wheel *w, unsigned lvl, unsigned s)
{
	uint64_t end = slot_start_tick(w, lvl, s) + (UINT64_C(1) << (lvl * VMTI_WHEEL_BITS));

	if (end >> (64 - VMTI_WHEEL_GRAN_SHIFT))
		return VMT_NS_NEVER;
	return end << VMTI_WHEEL_GRAN_SHIFT;
}

void vmti_wheel_rearm(struct vmti_wheel *w, struct vmti_wnode *n, vmt_ns deadline)
{
	if (n->pprev) {
		if (n->where != VMTI_WHEEL_NEAR) {
			unsigned lvl = n->where / VMTI_WHEEL_SLOTS, s = n->where % VMTI_WHEEL_SLOTS;

			if ((deadline >> VMTI_WHEEL_GRAN_SHIFT) >= slot_start_tick(w, lvl, s)) {
				/* The cursor reaches the slot first: no need to move. */
				if (w->next_valid) {
					if (!n->dead && n->deadline == w->next)
						w->next_valid = false;
					else if (deadline < w->next)
						w->next = deadline;
				}
				n->deadline = deadline;
				n->dead = false;
				return;
			}
		}
		vmti_wheel_remove(w, n);
	}
	n->deadline = deadline;
	vmti_wheel_insert(w, n);
}

void vmti_wheel_cancel(struct vmti_wheel *w, struct vmti_wnode *n)
{
	if (n->where == VMTI_WHEEL_NEAR) {
		/* Collection scans the near list: keep it free of dead nodes. */
		vmti_wheel_remove(w, n);
		return;
	}
	n->dead = true;
	if (w->next_valid && n->deadline == w->next)
		w->next_valid = false;
}

/* Detaches every node of a list onto *moving (singly linked through next). */
static void take_list(struct vmti_wnode **head, struct vmti_wnode **moving)
{
	struct vmti_wnode *n = *head, *nx;

	*head = NULL;
	for (; n; n = nx) {
		nx = n->next;
		n->next = *moving;
		*moving = n;
	}
}

static void replace_all(struct vmti_wheel *w, struct vmti_wnode *moving)
{
	struct vmti_wnode *nx;

	for (; moving; moving = nx) {
		nx = moving->next;
		if (moving->dead) {
			/* A cancelled node is dropped when the cursor reaches it. */
			moving->pprev = NULL;
			moving->next = NULL;
			moving->dead = false;
			w->count--;
			continue;
		}
		place(w, moving);
	}
}

size_t vmti_wheel_advance_collect(struct vmti_wheel *w, vmt_ns now,
				  void (*fn)(struct vmti_wnode *n, void *arg), void *arg)
{
	uint64_t ct, nt;
	size_t k = 0;
	bool moved = false;

	if (now <= w->cur)
		return 0;
	ct = w->cur >> VMTI_WHEEL_GRAN_SHIFT;
	nt = now >> VMTI_WHEEL_GRAN_SHIFT;
	w->cur = now;
	if (ct == nt)
		return 0;
	for (unsigned lvl = 0; lvl < VMTI_WHEEL_LEVELS; lvl++) {
		uint64_t c_hi = ct >> (lvl * VMTI_WHEEL_BITS), n_hi = nt >> (lvl * VMTI_WHEEL_BITS);
		uint64_t mask;

		if (c_hi == n_hi)
			break;
		if ((c_hi >> VMTI_WHEEL_BITS) != (n_hi >> VMTI_WHEEL_BITS)) {
			mask = ~UINT64_C(0);
		} else {
			/* Slots after the old digit, up to and including the new one. */
			unsigned a = (unsigned)c_hi & 63, b = (unsigned)n_hi & 63;
			uint64_t upto = b == 63 ? ~UINT64_C(0) : (UINT64_C(1) << (b + 1)) - 1;

			mask = upto & ~((UINT64_C(1) << (a + 1)) - 1);
		}
		mask &= w->occupied[lvl];
		w->occupied[lvl] &= ~mask;
		/*
		 * One pass per reached slot, each node touched once: a node lands
		 * in a lower level, the near list, or (re-armed later in place) a
		 * slot past the new cursor's digit, never in a slot this loop has
		 * yet to visit.
		 */
		while (mask) {
			unsigned s = (unsigned)__builtin_ctzll(mask);
			struct vmti_wnode *n = w->slot[lvl][s], *nx;

			mask &= mask - 1;
			w->slot[lvl][s] = NULL;
			moved = true;
			for (; n; n = nx) {
				nx = n->next;
				if (n->dead || (fn && n->deadline <= now)) {
					/* Dropped if cancelled, handed over if due. */
					bool due = !n->dead;

					n->pprev = NULL;
					n->next = NULL;
					n->dead = false;
					w->count--;
					if (due) {
						fn(n, arg);
						k++;
					}
					continue;
				}
				place(w, n);
			}
		}
	}
	if (moved)
		w->next_valid = false;
	return k;
}

void vmti_wheel_advance(struct vmti_wheel *w, vmt_ns now)
{
	vmti_wheel_advance_collect(w, now, NULL, NULL);
}

size_t vmti_wheel_collect(struct vmti_wheel *w, vmt_ns now,
			  void (*fn)(struct vmti_wnode *n, void *arg), void *arg)
{
	struct vmti_wnode *n = w->near, *nx;
	size_t k = 0;

	for (; n; n = nx) {
		nx = n->next;
		if (n->deadline <= now) {
			vmti_wheel_remove(w, n);
			fn(n, arg);
			k++;
		}
	}
	return k;
}

vmt_ns vmti_wheel_next(struct vmti_wheel *w)
{
	vmt_ns m = VMT_NS_NEVER;

	if (w->next_valid)
		return w->next;
	for (struct vmti_wnode *n = w->near; n; n = n->next)
		if (n->deadline < m)
			m = n->deadline;
	if (m != VMT_NS_NEVER)
		goto out;
	/*
	 * Slots in range order.  Nodes of later slots are not earlier than
	 * their slot's start, hence not earlier than this slot's end: once the
	 * minimum so far is within this slot's range, it is the answer.
	 */
	for (unsigned lvl = 0; lvl < VMTI_WHEEL_LEVELS; lvl++) {
		uint64_t occ = w->occupied[lvl];

		while (occ) {
			unsigned s = (unsigned)__builtin_ctzll(occ);

			occ &= occ - 1;
			for (struct vmti_wnode *n = w->slot[lvl][s]; n; n = n->next)
				if (!n->dead && n->deadline < m)
					m = n->deadline;
			if (m <= slot_end_ns(w, lvl, s))
				goto out;
		}
	}
out:
	w->next = m;
	w->next_valid = true;
	return m;
}

void vmti_wheel_rebase(struct vmti_wheel *w, vmt_ns now)
{
	struct vmti_wnode *moving = NULL;

	take_list(&w->near, &moving);
	for (unsigned lvl = 0; lvl < VMTI_WHEEL_LEVELS; lvl++) {
		uint64_t occ = w->occupied[lvl];

		while (occ) {
			unsigned s = (unsigned)__builtin_ctzll(occ);

			occ &= occ - 1;
			take_list(&w->slot[lvl][s], &moving);
		}
		w->occupied[lvl] = 0;
	}
	w->cur = now;
	replace_all(w, moving);
	w->next_valid = false;
}
