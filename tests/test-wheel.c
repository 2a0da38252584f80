/* SPDX-License-Identifier: MIT */
/*
 * test-wheel.c - the timing wheel (src/wheel.h) against a plain array model.
 *
 * The model is the specification: a set of (node, deadline) pairs.  After
 * every operation the wheel's earliest deadline must equal the model's
 * minimum, and a collection must hand over exactly the model's due set.  The
 * random walk deliberately lands on level boundaries (where cascading
 * happens), jumps far ahead, moves the cursor backwards with a rebase and
 * uses deadlines at 0, equal to others and next to VMT_NS_NEVER.
 */
#include <stdbool.h>

#include "tests.h"
#include "wheel.h"

#define NODES 256
#define STEPS 200000

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void rng_seed(uint64_t dflt)
{
	const char *s = getenv("VMT_TEST_SEED");

	rng_state = s ? strtoull(s, NULL, 0) : dflt;
}

struct model {
	struct vmti_wheel w;
	struct vmti_wnode node[NODES];
	bool queued[NODES];
	vmt_ns deadline[NODES];
	bool got[NODES];
	size_t ngot;
	vmt_ns cur;
	uint64_t seq;
	/* statistics, to show the walk reached what it should */
	uint64_t collected;
};

static void m_init(struct model *m, vmt_ns now)
{
	memset(m, 0, sizeof(*m));
	vmti_wheel_init(&m->w, now);
	m->cur = now;
}

static vmt_ns m_min(const struct model *m)
{
	vmt_ns v = VMT_NS_NEVER;

	for (int i = 0; i < NODES; i++)
		if (m->queued[i] && m->deadline[i] < v)
			v = m->deadline[i];
	return v;
}

static size_t m_count(const struct model *m)
{
	size_t c = 0;

	for (int i = 0; i < NODES; i++)
		c += m->queued[i];
	return c;
}

static void m_check(struct model *m)
{
	vmt_ns want = m_min(m), got = vmti_wheel_next(&m->w);

	if (got != want)
		VMT_FAIL("next %llu, model minimum %llu (cur %llu, count %zu)",
			 (unsigned long long)got, (unsigned long long)want,
			 (unsigned long long)m->cur, m_count(m));
	/* A second call (cached) agrees with the first. */
	ASSERT_UEQ(vmti_wheel_next(&m->w), want);
	/* Lazily cancelled nodes stay linked, marked dead, until cascaded. */
	size_t dead = 0;

	for (int i = 0; i < NODES; i++) {
		bool linked = vmti_wnode_queued(&m->node[i]);
		bool live = linked && !m->node[i].dead;

		dead += linked && m->node[i].dead;
		if (live != m->queued[i])
			VMT_FAIL("node %d live %d, model %d", i, live, m->queued[i]);
		if (m->queued[i])
			ASSERT_UEQ(m->node[i].deadline, m->deadline[i]);
	}
	ASSERT_UEQ(m->w.count, m_count(m) + dead);
}

static void m_insert(struct model *m, int i, vmt_ns d)
{
	ASSERT_TRUE(!m->queued[i]);
	m->node[i].deadline = d;
	m->node[i].seq = m->seq++;
	vmti_wheel_insert(&m->w, &m->node[i]);
	m->queued[i] = true;
	m->deadline[i] = d;
}

static void m_remove(struct model *m, int i)
{
	ASSERT_TRUE(m->queued[i]);
	vmti_wheel_remove(&m->w, &m->node[i]);
	m->queued[i] = false;
}

/* The timer API's paths: re-arm (maybe in place, maybe reviving a dead node). */
static void m_rearm(struct model *m, int i, vmt_ns d)
{
	m->node[i].seq = m->seq++;
	vmti_wheel_rearm(&m->w, &m->node[i], d);
	m->queued[i] = true;
	m->deadline[i] = d;
}

/* ... and lazy cancel. */
static void m_cancel(struct model *m, int i)
{
	ASSERT_TRUE(m->queued[i]);
	vmti_wheel_cancel(&m->w, &m->node[i]);
	m->queued[i] = false;
}

static void on_collect(struct vmti_wnode *n, void *arg)
{
	struct model *m = arg;
	ptrdiff_t i = n - m->node;

	if (i < 0 || i >= NODES)
		VMT_FAIL("collected a node that is not ours");
	if (m->got[i])
		VMT_FAIL("node %td collected twice", i);
	if (vmti_wnode_queued(n))
		VMT_FAIL("node %td still queued when handed over", i);
	m->got[i] = true;
	m->ngot++;
}

/* Advances to @now (when later) and collects; checks the due set exactly. */
static void m_advance_collect(struct model *m, vmt_ns now)
{
	size_t k, want = 0;

	memset(m->got, 0, sizeof(m->got));
	m->ngot = 0;
	/* Half the time due nodes come straight out of the cascade (the loop's way). */
	if (rng() & 1) {
		k = vmti_wheel_advance_collect(&m->w, now, on_collect, m);
	} else {
		vmti_wheel_advance(&m->w, now);
		k = 0;
	}
	if (now > m->cur)
		m->cur = now;
	k += vmti_wheel_collect(&m->w, now, on_collect, m);
	ASSERT_EQ(k, m->ngot);
	for (int i = 0; i < NODES; i++) {
		bool due = m->queued[i] && m->deadline[i] <= now;

		if (due != m->got[i])
			VMT_FAIL("node %d deadline %llu at now %llu (cursor %llu): due %d, collected %d",
				 i, (unsigned long long)m->deadline[i], (unsigned long long)now,
				 (unsigned long long)m->cur, due, m->got[i]);
		if (due) {
			m->queued[i] = false;
			want++;
		}
	}
	ASSERT_EQ(k, want);
	m->collected += k;
}

static void m_rebase(struct model *m, vmt_ns now)
{
	vmti_wheel_rebase(&m->w, now);
	m->cur = now;
}

/* The first time after @t at which the digit of level @lvl changes. */
static vmt_ns boundary(vmt_ns t, unsigned lvl)
{
	unsigned shift = VMTI_WHEEL_GRAN_SHIFT + lvl * VMTI_WHEEL_BITS;
	uint64_t b;

	if (shift >= 64)
		return VMT_NS_NEVER - 1;
	b = ((t >> shift) + 1);
	if (shift && b >= (UINT64_C(1) << (64 - shift)))
		return VMT_NS_NEVER - 1;
	return b << shift;
}

static vmt_ns jitter(vmt_ns t)
{
	int64_t d = (int64_t)(rng() % 5) - 2;

	if (d < 0)
		return vmt_ns_sub(t, (vmt_ns)-d);
	t = vmt_ns_add(t, (vmt_ns)d);
	return t == VMT_NS_NEVER ? VMT_NS_NEVER - 1 : t;
}

static vmt_ns pick_deadline(struct model *m)
{
	vmt_ns c = m->cur;

	switch (rng() % 10) {
	case 0:
		return vmt_ns_add(c, rng() % 2048);
	case 1:
		return vmt_ns_sub(c, rng() % 5000); /* already due */
	case 2:
	case 3:
		return jitter(boundary(c, (unsigned)(rng() % VMTI_WHEEL_LEVELS)));
	case 4: {
		/* Equal to a pending deadline: both must come out together. */
		int i = (int)(rng() % NODES);

		for (int k = 0; k < NODES; k++, i = (i + 1) % NODES)
			if (m->queued[i])
				return m->deadline[i];
		return c;
	}
	case 5:
		return VMT_NS_NEVER - 1 - rng() % 3000;
	case 6:
		return rng() % 3000;
	case 7:
		return rng() % 50 == 0 ? VMT_NS_NEVER : rng();
	default: {
		vmt_ns d = vmt_ns_add(c, rng() >> (rng() % 64));

		return d == VMT_NS_NEVER ? VMT_NS_NEVER - 1 : d;
	}
	}
}

static vmt_ns cap(vmt_ns t)
{
	return t == VMT_NS_NEVER ? VMT_NS_NEVER - 1 : t;
}

static vmt_ns pick_advance(struct model *m)
{
	vmt_ns c = m->cur, t;

	switch (rng() % 10) {
	case 0:
		return c;
	case 1:
	case 2:
		return cap(vmt_ns_add(c, rng() % 4096));
	case 3:
	case 4:
		return jitter(boundary(c, (unsigned)(rng() % VMTI_WHEEL_LEVELS)));
	case 5:
		/* Exactly the earliest deadline, or one before it. */
		t = m_min(m);
		if (t == VMT_NS_NEVER)
			return c;
		return vmt_ns_sub(t, rng() & 1);
	case 6:
		return vmt_ns_sub(c, rng() % 100000); /* not later: collect only */
	case 7:
		return rng() % 200 == 0 ? VMT_NS_NEVER - 1 : c;
	default:
		return cap(vmt_ns_add(c, rng() >> (rng() % 64)));
	}
}

TEST(random_walk_against_model)
{
	static struct model m;
	uint64_t rebases = 0, far = 0;

	rng_seed(UINT64_C(0x3ee1));
	m_init(&m, 0);
	m_check(&m);
	for (int step = 0; step < STEPS; step++) {
		uint64_t op = rng() % 100;
		int i = (int)(rng() % NODES);

		if (op < 20) {
			if (m.queued[i])
				m_remove(&m, i);
			if (vmti_wnode_queued(&m.node[i]))
				vmti_wheel_remove(&m.w, &m.node[i]); /* a dead node */
			m_insert(&m, i, pick_deadline(&m));
		} else if (op < 35) {
			/* Often later than before: the in-place path. */
			vmt_ns d = m.queued[i] && rng() % 2 ? cap(vmt_ns_add(m.deadline[i],
									 rng() >> (rng() % 64)))
							    : pick_deadline(&m);

			m_rearm(&m, i, d);
		} else if (op < 43) {
			if (m.queued[i])
				m_remove(&m, i);
		} else if (op < 50) {
			if (m.queued[i])
				m_cancel(&m, i);
		} else if (op < 95) {
			vmt_ns to = pick_advance(&m);

			if (to > m.cur && (to ^ m.cur) >> (VMTI_WHEEL_GRAN_SHIFT +
							  VMTI_WHEEL_BITS * 8))
				far++;
			m_advance_collect(&m, to);
		} else {
			/* Mostly backwards (a VM reset), sometimes forward. */
			vmt_ns to = rng() % 4 ? rng() % (m.cur + 1) : pick_advance(&m);

			m_rebase(&m, to);
			rebases++;
		}
		m_check(&m);
		/* Keep the cursor away from the top most of the time. */
		if (m.cur > VMT_NS_NEVER / 2 && rng() % 8 == 0) {
			m_rebase(&m, rng() % 100000);
			m_check(&m);
		}
	}
	fprintf(stderr, "  %d steps, %llu collected, %llu rebases, %llu top-level jumps\n", STEPS,
		(unsigned long long)m.collected, (unsigned long long)rebases,
		(unsigned long long)far);
	ASSERT_GT(m.collected, STEPS / 10);
	ASSERT_GT(rebases, 100);
	ASSERT_GT(far, 10);
}

TEST(exact_deadlines_not_slot_edges)
{
	static struct model m;

	m_init(&m, 0);
	m_insert(&m, 0, 1500);
	m_insert(&m, 1, 1500);
	m_insert(&m, 2, 1501);
	m_insert(&m, 3, 0);
	m_check(&m);
	ASSERT_UEQ(vmti_wheel_next(&m.w), 0);
	m_advance_collect(&m, 0);
	ASSERT_EQ(m.ngot, 1);
	ASSERT_TRUE(m.got[3]);
	m_check(&m);
	ASSERT_UEQ(vmti_wheel_next(&m.w), 1500);
	m_advance_collect(&m, 1499);
	ASSERT_EQ(m.ngot, 0);
	m_advance_collect(&m, 1500);
	ASSERT_EQ(m.ngot, 2);
	ASSERT_TRUE(m.got[0] && m.got[1]);
	m_check(&m);
	ASSERT_UEQ(vmti_wheel_next(&m.w), 1501);
	m_advance_collect(&m, 1501);
	ASSERT_EQ(m.ngot, 1);
	m_check(&m);
	ASSERT_UEQ(vmti_wheel_next(&m.w), VMT_NS_NEVER);
}

TEST(every_level_boundary)
{
	static struct model m;

	for (unsigned lvl = 0; lvl < VMTI_WHEEL_LEVELS; lvl++) {
		for (vmt_ns start = 0; start < 3; start++) {
			vmt_ns base = start * 777, b;

			m_init(&m, base);
			b = boundary(base, lvl);
			m_insert(&m, 0, b - 1);
			m_insert(&m, 1, b);
			m_insert(&m, 2, b + 1);
			m_insert(&m, 3, b);
			m_check(&m);
			m_advance_collect(&m, b - 2);
			ASSERT_EQ(m.ngot, 0);
			m_check(&m);
			m_advance_collect(&m, b - 1);
			ASSERT_EQ(m.ngot, 1);
			m_check(&m);
			m_advance_collect(&m, b);
			ASSERT_EQ(m.ngot, 2);
			m_check(&m);
			m_advance_collect(&m, b + 1);
			ASSERT_EQ(m.ngot, 1);
			m_check(&m);
			ASSERT_EQ(m.w.count, 0);
		}
	}
}

TEST(one_jump_over_all_levels)
{
	static struct model m;
	int n = 0;

	m_init(&m, 0);
	/* One node per level, plus one just past each level's span. */
	for (unsigned lvl = 0; lvl < VMTI_WHEEL_LEVELS; lvl++) {
		m_insert(&m, n++, boundary(0, lvl) + 3);
		m_insert(&m, n++, boundary(0, lvl) * 2 + 5);
	}
	m_insert(&m, n++, VMT_NS_NEVER - 1);
	m_insert(&m, n++, VMT_NS_NEVER - 2);
	m_check(&m);
	m_advance_collect(&m, VMT_NS_NEVER - 3);
	ASSERT_EQ(m.ngot, n - 2);
	m_check(&m);
	m_advance_collect(&m, VMT_NS_NEVER - 2);
	ASSERT_EQ(m.ngot, 1);
	m_check(&m);
	m_advance_collect(&m, VMT_NS_NEVER - 1);
	ASSERT_EQ(m.ngot, 1);
	m_check(&m);
	ASSERT_UEQ(vmti_wheel_next(&m.w), VMT_NS_NEVER);
}

TEST(near_never_and_zero)
{
	static struct model m;

	m_init(&m, VMT_NS_NEVER - 5000);
	m_insert(&m, 0, VMT_NS_NEVER - 1);
	m_insert(&m, 1, VMT_NS_NEVER - 4000);
	m_insert(&m, 2, 0); /* long past */
	m_check(&m);
	m_advance_collect(&m, VMT_NS_NEVER - 5000);
	ASSERT_EQ(m.ngot, 1);
	ASSERT_TRUE(m.got[2]);
	m_check(&m);
	/* A reset of the VM clock to 0 with timers still queued far ahead. */
	m_rebase(&m, 0);
	m_check(&m);
	m_insert(&m, 3, 0);
	m_insert(&m, 4, 1);
	m_check(&m);
	ASSERT_UEQ(vmti_wheel_next(&m.w), 0);
	m_advance_collect(&m, 1);
	ASSERT_EQ(m.ngot, 2);
	m_check(&m);
	ASSERT_UEQ(vmti_wheel_next(&m.w), VMT_NS_NEVER - 4000);
	m_advance_collect(&m, VMT_NS_NEVER - 1);
	ASSERT_EQ(m.ngot, 2);
	m_check(&m);
}

TEST(rebase_backwards_keeps_order)
{
	static struct model m;

	rng_seed(UINT64_C(0xbacc));
	for (int round = 0; round < 200; round++) {
		vmt_ns start = rng() >> (rng() % 64);

		if (start == VMT_NS_NEVER)
			start--;
		m_init(&m, start);
		for (int i = 0; i < NODES; i++)
			m_insert(&m, i, pick_deadline(&m));
		m_check(&m);
		m_advance_collect(&m, pick_advance(&m));
		m_check(&m);
		m_rebase(&m, rng() % (m.cur + 1));
		m_check(&m);
		/* Drain in a few steps, checking the minimum each time. */
		while (m_min(&m) != VMT_NS_NEVER) {
			vmt_ns next = vmti_wheel_next(&m.w);

			m_advance_collect(&m, next == VMT_NS_NEVER ? VMT_NS_NEVER - 1 : next);
			ASSERT_GE(m.ngot, 1);
			m_check(&m);
		}
	}
}
