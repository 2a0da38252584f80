/* SPDX-License-Identifier: MIT */
/*
 * dev-hpet.c - the HPET (IA-PC HPET 1.0a) on the VM clock.
 *
 * The main counter is not incremented anywhere: while enabled it is
 * cbase + floor((vm - cstart) * 10^6 / period_fs), and @acc is how many of
 * those elapsed ticks the comparators have been checked against.  Looking
 * (advance()) counts, per comparator, the values between the checked
 * counter and now that match it (arithmetically: a 1-tick period costs the
 * same as a 1 s one), hands them to the tick policy and moves @acc.  The
 * host timer only says when the next interrupt is worth looking for.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/hpet.h>
#include <vmtime/source.h>
#include <vmtime/timer.h>

#include "dev-irq.h"

__extension__ typedef unsigned __int128 u128;

#define FS_PER_NS UINT64_C(1000000)
#define FS_PER_SEC UINT64_C(1000000000000000)
#define PERIOD_FS_MAX UINT64_C(100000000)	/* spec: COUNTER_CLK_PERIOD <= 0x05F5E100 */
#define FREQ_MAX UINT64_C(1000000000)
#define REV_ID 1u
#define FIELD_STATE_VERSION 1
#define GEN_CONF_WRITABLE (VMT_HPET_ENABLE_CNF | VMT_HPET_LEG_RT_CNF)
/* FSB delivery is not offered (FSB_INT_DEL_CAP 0), so FSB_EN_CNF stays 0. */
#define TN_WRITABLE                                                                     \
	(VMT_HPET_TN_INT_TYPE_CNF | VMT_HPET_TN_INT_ENB_CNF | VMT_HPET_TN_TYPE_CNF |     \
	 VMT_HPET_TN_VAL_SET_CNF | VMT_HPET_TN_32MODE_CNF | VMT_HPET_TN_INT_ROUTE_CNF)
#define TN_CAPS (VMT_HPET_TN_PER_INT_CAP | VMT_HPET_TN_SIZE_CAP)
#define TN_TIMER_BITS 5		/* done() tags: gen << 5 | comparator */
#define NO_LINE (-1)

enum {
	F_VERSION = 1,
	F_TIMERS = 2,
	F_GEN_CONF = 3,
	F_STATUS = 4,
	F_CBASE = 5,
	F_ELAPSED = 6,	/* VM ns since the counter's start */
	F_ACC = 7,
	F_TIMER0 = 16,	/* comparator n: F_TIMER0 + 4n + TF_* */
};

enum { TF_CONFIG, TF_CMP, TF_PERIOD, TF_BACKLOG, TF_COUNT };

struct comparator {
	uint32_t config;	/* the writable bits */
	uint64_t cmp, period;
	uint64_t backlog, inflight;
	vmt_ns next_raise;	/* min period: no raise before */
	vmt_ns retry_at;	/* REINJECT: next retry of an edge backlog */
	struct vmt_dev_stats stats;
};

struct vmt_hpet {
	pthread_mutex_t lock;
	vmt_source *src;
	vmt_timer *timer;
	struct vmti_irq irq;
	struct vmti_dev_unit unit;
	char name[VMT_DEV_NAME_MAX + 1];
	enum vmt_tick_policy ticks;
	vmt_ns min_period;
	uint64_t period_fs;
	unsigned n;
	uint32_t route_cap;

	uint32_t gen_conf;
	uint32_t status;
	vmt_ns cstart;		/* VM time the running counter counts from */
	uint64_t cbase;		/* counter value at @cstart (the value, halted) */
	uint64_t acc;		/* ticks since @cstart checked against the comparators */
	uint32_t gen;		/* bumped by reset/restore: stale done()s are ignored */
	struct comparator t[VMT_HPET_TIMERS_MAX];
};

static uint64_t sat(u128 v)
{
	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

static vmt_ns vm_now(const struct vmt_hpet *h)
{
	return vmt_now(h->src, VMT_CLOCK_VM);
}

static int enabled(const struct vmt_hpet *h)
{
	return h->gen_conf & VMT_HPET_ENABLE_CNF;
}

static uint64_t elapsed(const struct vmt_hpet *h, vmt_ns vm)
{
	if (!enabled(h) || vm <= h->cstart)
		return 0;
	return sat((u128)(vm - h->cstart) * FS_PER_NS / h->period_fs);
}

/* The first VM time at which the running counter has counted @ticks. */
static vmt_ns vm_of_elapsed(const struct vmt_hpet *h, uint64_t ticks)
{
	return vmt_ns_add(h->cstart, sat(((u128)ticks * h->period_fs + FS_PER_NS - 1) / FS_PER_NS));
}

static uint64_t counter(const struct vmt_hpet *h)
{
	return h->cbase + h->acc;	/* wraps at 2^64 like the hardware */
}

static int mode32(const struct comparator *c)
{
	return c->config & VMT_HPET_TN_32MODE_CNF;
}

static int periodic(const struct comparator *c)
{
	return c->config & VMT_HPET_TN_TYPE_CNF;
}

static int level(const struct comparator *c)
{
	return c->config & VMT_HPET_TN_INT_TYPE_CNF;
}

static int line_of(const struct vmt_hpet *h, unsigned i)
{
	unsigned route = (h->t[i].config & VMT_HPET_TN_INT_ROUTE_CNF) >> VMT_HPET_TN_INT_ROUTE_SHIFT;

	if (h->gen_conf & VMT_HPET_LEG_RT_CNF) {
		if (i == 0)
			return VMT_HPET_LINE_IRQ0;
		if (i == 1)
			return VMT_HPET_LINE_IRQ8;
	}
	/* A route outside the capability (only the reset value 0 can be) drives nothing. */
	return h->route_cap >> route & 1 ? (int)route : NO_LINE;
}

/* Could comparator @i's match interrupt the guest? */
static int can_raise(const struct vmt_hpet *h, unsigned i)
{
	return enabled(h) && h->t[i].config & VMT_HPET_TN_INT_ENB_CNF && line_of(h, i) != NO_LINE;
}

/*
 * Ticks from the counter value @from to comparator @c's next match: it
 * matches when the counter counts onto cmp (the low 32 bits in 32-bit
 * mode), so a distance of 0 means a whole wrap.  0 returned: none within
 * 2^64 ticks.
 */
static uint64_t distance(const struct comparator *c, uint64_t from)
{
	uint64_t d;

	if (mode32(c)) {
		d = (uint32_t)(c->cmp - from);
		return d ? d : UINT64_C(1) << 32;
	}
	return c->cmp - from;
}

static uint64_t period_mask(const struct comparator *c)
{
	return mode32(c) ? UINT32_MAX : UINT64_MAX;
}

/* Matches of @c among the @e counter values after @from; a periodic one moves on. */
static uint64_t matches(struct comparator *c, uint64_t from, uint64_t e)
{
	uint64_t d = distance(c, from), n;

	if (!d || d > e)
		return 0;
	if (periodic(c) && c->period) {
		n = 1 + (e - d) / c->period;
		c->cmp = (c->cmp + (uint64_t)((u128)n * c->period)) & period_mask(c);
		return n;
	}
	/* Without a period the same value comes round each wrap. */
	return mode32(c) ? 1 + ((e - d) >> 32) : 1;
}

static void backlog_add(struct vmt_hpet *h, struct comparator *c, uint64_t n)
{
	uint64_t room = VMT_TICKS_BACKLOG_MAX - c->backlog;

	if (h->ticks != VMT_TICKS_REINJECT) {
		c->stats.lost += n;
		return;
	}
	c->backlog += n < room ? n : room;
	c->stats.lost += n < room ? 0 : n - room;
}

static vmt_ns retry_gap(const struct vmt_hpet *h, const struct comparator *c)
{
	vmt_ns half = 0;

	/* Retry twice a period: often enough to drain, rarely enough not to storm. */
	if (periodic(c) && c->period)
		half = sat((u128)c->period * h->period_fs / FS_PER_NS) / 2;
	return half > h->min_period ? half : h->min_period;
}

static void raise_edge(struct vmt_hpet *h, unsigned i, vmt_ns vm)
{
	struct comparator *c = &h->t[i];

	c->inflight++;
	c->next_raise = vmt_ns_add(vm, h->min_period);
	c->retry_at = vmt_ns_add(vm, retry_gap(h, c));
	vmti_irq_pulse(&h->irq, (unsigned)line_of(h, i), h->gen << TN_TIMER_BITS | i);
}

static void irq_done(void *dev, unsigned line, uint32_t tag, int taken)
{
	struct vmt_hpet *h = dev;
	struct comparator *c = &h->t[tag & (VMT_HPET_TIMERS_MAX - 1)];

	(void)line;
	if (tag >> TN_TIMER_BITS != (h->gen & (UINT32_MAX >> TN_TIMER_BITS)))
		return;	/* raised before a reset or restore, which counted it */
	c->inflight--;
	if (taken) {
		c->stats.raised++;
		return;
	}
	if (!h->irq.fn) {
		c->stats.lost++;	/* nobody to deliver to: not worth retrying */
		return;
	}
	c->stats.coalesced++;
	backlog_add(h, c, 1);
}

/*
 * @n matches of comparator @i happened by @vm (the counter now reads
 * @cnow); hand them to the policy.
 */
static void expire(struct vmt_hpet *h, unsigned i, uint64_t n, vmt_ns vm, uint64_t cnow)
{
	struct comparator *c = &h->t[i];
	uint32_t bit = UINT32_C(1) << i;
	int can = can_raise(h, i);

	c->stats.ticks += n;
	c->next_raise = vmt_ns_add(vm, h->min_period);
	if (level(c)) {
		/* A match sets the status bit even with the interrupt disabled. */
		if (!(h->status & bit)) {
			h->status |= bit;
			if (can) {
				c->stats.raised++;
				n--;
			}
		} else if (can) {
			c->stats.coalesced++;	/* the guest has not acknowledged yet */
		}
	} else if (can) {
		raise_edge(h, i, vm);
		n--;
	}
	if (!can) {
		c->stats.lost += n;
		return;
	}
	backlog_add(h, c, n);
	if (h->ticks == VMT_TICKS_DELAY && periodic(c) && n && c->period)
		c->cmp = (cnow + c->period) & period_mask(c);	/* the grid moves to now */
}

static uint64_t asserted_lines(const struct vmt_hpet *h)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < h->n; i++)
		if (level(&h->t[i]) && h->status >> i & 1 && can_raise(h, i))
			m |= UINT64_C(1) << line_of(h, i);
	return m;
}

/* Lines follow the status bits: queue every change since the last sync. */
static void sync_levels(struct vmt_hpet *h)
{
	uint64_t want = asserted_lines(h), diff = want ^ h->irq.levels;

	for (unsigned l = 0; diff; l++, diff >>= 1)
		if (diff & 1)
			vmti_irq_set(&h->irq, l, (int)(want >> l & 1));
}

/* Account the matches up to now.  @retry: a timer fire may retry edge backlogs. */
static void advance(struct vmt_hpet *h, int retry)
{
	vmt_ns vm = vm_now(h);
	uint64_t now, e, from, fired = 0;

	if (!enabled(h))
		return;
	now = elapsed(h, vm);
	e = now - h->acc;
	from = counter(h);
	h->acc = now;
	for (unsigned i = 0; e && i < h->n; i++) {
		uint64_t k = matches(&h->t[i], from, e);

		if (k) {
			fired |= UINT64_C(1) << i;
			expire(h, i, k, vm, from + e);
		}
	}
	for (unsigned i = 0; retry && i < h->n; i++) {
		struct comparator *c = &h->t[i];

		if (fired >> i & 1 || !c->backlog || level(c) || !can_raise(h, i) ||
		    vm < c->retry_at || vm < c->next_raise)
			continue;
		c->backlog--;
		raise_edge(h, i, vm);
	}
}

/* When comparator @i next needs the loop thread; VMT_NS_NEVER: never. */
static vmt_ns next_event(const struct vmt_hpet *h, unsigned i)
{
	const struct comparator *c = &h->t[i];
	vmt_ns next = VMT_NS_NEVER;
	uint64_t d;

	/* Matches nobody hears, or that a set status bit coalesces, are counted when someone looks. */
	if (!can_raise(h, i))
		return VMT_NS_NEVER;
	if (!(level(c) && h->status >> i & 1)) {
		d = distance(c, counter(h));
		if (d && (u128)h->acc + d <= UINT64_MAX)
			next = vm_of_elapsed(h, h->acc + d);
	}
	if (c->backlog && !level(c) && c->retry_at < next)
		next = c->retry_at;
	return next > c->next_raise || next == VMT_NS_NEVER ? next : c->next_raise;
}

static void rearm(struct vmt_hpet *h)
{
	vmt_ns next = VMT_NS_NEVER;

	sync_levels(h);
	for (unsigned i = 0; enabled(h) && i < h->n; i++) {
		vmt_ns t = next_event(h, i);

		next = t < next ? t : next;
	}
	if (next == VMT_NS_NEVER)
		vmt_timer_cancel(h->timer);
	else
		vmt_timer_arm(h->timer, next);
}

static void timer_fn(vmt_timer *t, uint64_t expirations, void *userdata)
{
	struct vmt_hpet *h = userdata;

	(void)t;
	(void)expirations;
	pthread_mutex_lock(&h->lock);
	advance(h, 1);
	rearm(h);
	pthread_mutex_unlock(&h->lock);
	vmti_irq_flush(&h->irq);
}

/* ---- registers ------------------------------------------------------------ */

static uint64_t gcap(const struct vmt_hpet *h)
{
	return h->period_fs << 32 | (uint64_t)VMT_HPET_VENDOR_ID << 16 | 1u << 15 /* LEG_RT_CAP */ |
	       1u << 13 /* COUNT_SIZE_CAP: 64-bit */ | (uint64_t)(h->n - 1) << 8 | REV_ID;
}

static uint64_t tn_conf(const struct vmt_hpet *h, unsigned i)
{
	return (uint64_t)h->route_cap << VMT_HPET_TN_INT_ROUTE_CAP_SHIFT | TN_CAPS | h->t[i].config;
}

/* The 64-bit register at @reg (8-aligned), as the guest reads it now. */
static uint64_t reg_read(const struct vmt_hpet *h, uint64_t reg)
{
	unsigned i;

	switch (reg) {
	case VMT_HPET_GCAP_ID:
		return gcap(h);
	case VMT_HPET_GEN_CONF:
		return h->gen_conf;
	case VMT_HPET_GINTR_STA:
		return h->status;
	case VMT_HPET_MAIN_COUNTER:
		return counter(h);
	}
	if (reg < VMT_HPET_TIMER_CONF(0) || reg >= VMT_HPET_TIMER_CONF(h->n))
		return 0;	/* reserved */
	i = (unsigned)(reg - VMT_HPET_TIMER_CONF(0)) / 0x20;
	switch ((reg - VMT_HPET_TIMER_CONF(0)) % 0x20) {
	case 0x00:
		return tn_conf(h, i);
	case 0x08:
		return h->t[i].cmp;
	}
	return 0;	/* FSB route (not offered) and the reserved quadword */
}

static void write_gen_conf(struct vmt_hpet *h, uint64_t v, vmt_ns vm)
{
	uint32_t old = h->gen_conf;

	h->gen_conf = (uint32_t)v & GEN_CONF_WRITABLE;
	if ((old ^ h->gen_conf) & VMT_HPET_ENABLE_CNF) {
		/* Halting folds the count into cbase; starting counts from now. */
		h->cbase = h->cbase + h->acc;
		h->acc = 0;
		h->cstart = vm;
	}
}

static void write_status(struct vmt_hpet *h, uint64_t clear)
{
	for (unsigned i = 0; i < h->n; i++) {
		struct comparator *c = &h->t[i];

		if (!(clear >> i & 1) || !(h->status >> i & 1))
			continue;
		h->status &= ~(UINT32_C(1) << i);
		/* REINJECT on a level comparator: the acknowledgement takes the next. */
		if (c->backlog && can_raise(h, i)) {
			c->backlog--;
			c->stats.raised++;
			h->status |= UINT32_C(1) << i;
		}
	}
}

static void write_tn_conf(struct vmt_hpet *h, unsigned i, uint64_t v)
{
	struct comparator *c = &h->t[i];
	uint32_t old = c->config, route;

	c->config = (uint32_t)v & TN_WRITABLE;
	route = (c->config & VMT_HPET_TN_INT_ROUTE_CNF) >> VMT_HPET_TN_INT_ROUTE_SHIFT;
	/* A route the capability lacks reads back unchanged (2.3.9.2.x). */
	if (!(h->route_cap >> route & 1))
		c->config = (c->config & ~VMT_HPET_TN_INT_ROUTE_CNF) | (old & VMT_HPET_TN_INT_ROUTE_CNF);
	if (mode32(c)) {
		c->cmp &= UINT32_MAX;
		c->period &= UINT32_MAX;
	}
	/* An edge comparator has no status. */
	if (!level(c))
		h->status &= ~(UINT32_C(1) << i);
}

/*
 * Comparator write: the period always takes the value; the comparator
 * only in one-shot mode or with VAL_SET (the accumulator), which clears
 * itself after one write (Linux writes the start, then the period).
 */
static void write_tn_cmp(struct vmt_hpet *h, unsigned i, uint64_t mask, uint64_t v)
{
	struct comparator *c = &h->t[i];

	if (!periodic(c) || c->config & VMT_HPET_TN_VAL_SET_CNF)
		c->cmp = (c->cmp & ~mask) | (v & mask);
	c->period = (c->period & ~mask) | (v & mask);
	c->config &= ~VMT_HPET_TN_VAL_SET_CNF;
	if (mode32(c)) {
		c->cmp &= UINT32_MAX;
		c->period &= UINT32_MAX;
	}
}

/* Write the bits @mask of the register at @reg (8-aligned). */
static void reg_write(struct vmt_hpet *h, uint64_t reg, uint64_t mask, uint64_t v, vmt_ns vm)
{
	unsigned i;

	v &= mask;
	switch (reg) {
	case VMT_HPET_GEN_CONF:
		write_gen_conf(h, (h->gen_conf & ~mask) | v, vm);
		return;
	case VMT_HPET_GINTR_STA:
		write_status(h, v);
		return;
	case VMT_HPET_MAIN_COUNTER:
		/* Writable only while halted (2.3.5: software must halt it first). */
		if (!enabled(h))
			h->cbase = (h->cbase & ~mask) | v;
		return;
	}
	if (reg < VMT_HPET_TIMER_CONF(0) || reg >= VMT_HPET_TIMER_CONF(h->n))
		return;	/* capabilities and reserved: read-only */
	i = (unsigned)(reg - VMT_HPET_TIMER_CONF(0)) / 0x20;
	switch ((reg - VMT_HPET_TIMER_CONF(0)) % 0x20) {
	case 0x00:
		write_tn_conf(h, i, (h->t[i].config & ~mask) | v);
		break;
	case 0x08:
		write_tn_cmp(h, i, mask, v);
		break;
	}
}

/*
 * The block is the specification's 1 KiB, or longer when comparators 24-31
 * exist: the register map puts comparator N at 0x100 + 0x20 * N.
 */
static int access_ok(const struct vmt_hpet *h, uint64_t offset, unsigned size)
{
	uint64_t end = VMT_HPET_TIMER_CONF(h->n);

	end = end > VMT_HPET_BLOCK_SIZE ? end : VMT_HPET_BLOCK_SIZE;
	return (size == 4 || size == 8) && offset < end && !(offset & (size - 1));
}

static uint64_t access_mask(uint64_t offset, unsigned size)
{
	return size == 8 ? UINT64_MAX : (uint64_t)UINT32_MAX << (offset & 4) * 8;
}

int vmt_hpet_read(vmt_hpet *h, uint64_t offset, unsigned size, uint64_t *val)
{
	uint64_t v;

	if (!h || !val || !access_ok(h, offset, size))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	advance(h, 0);
	v = reg_read(h, offset & ~UINT64_C(7));
	rearm(h);
	pthread_mutex_unlock(&h->lock);
	vmti_irq_flush(&h->irq);
	*val = (v & access_mask(offset, size)) >> (size == 8 ? 0 : (offset & 4) * 8);
	return 0;
}

int vmt_hpet_write(vmt_hpet *h, uint64_t offset, unsigned size, uint64_t val)
{
	uint64_t mask;

	if (!h || !access_ok(h, offset, size))
		return -EINVAL;
	mask = access_mask(offset, size);
	if (size == 4)
		val = (val & UINT32_MAX) << (offset & 4) * 8;
	pthread_mutex_lock(&h->lock);
	advance(h, 0);
	reg_write(h, offset & ~UINT64_C(7), mask, val, vm_now(h));
	rearm(h);
	pthread_mutex_unlock(&h->lock);
	vmti_irq_flush(&h->irq);
	return 0;
}

/* ---- life cycle ----------------------------------------------------------- */

/* Forget what is in flight: a done() of it is ignored from now on. */
static void drop_inflight(struct vmt_hpet *h)
{
	for (unsigned i = 0; i < h->n; i++) {
		struct comparator *c = &h->t[i];

		c->stats.lost += c->backlog + c->inflight;
		c->backlog = 0;
		c->inflight = 0;
	}
	h->gen++;
}

static void power_up(struct vmt_hpet *h)
{
	h->gen_conf = 0;
	h->status = 0;
	h->cbase = 0;
	h->acc = 0;
	h->cstart = 0;
	for (unsigned i = 0; i < h->n; i++) {
		struct comparator *c = &h->t[i];

		c->config = 0;
		c->cmp = UINT64_MAX;	/* the specification's reset value: all ones */
		c->period = 0;
		c->next_raise = 0;
		c->retry_at = 0;
	}
}

int vmt_hpet_reset(vmt_hpet *h)
{
	if (!h)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	advance(h, 0);
	drop_inflight(h);
	power_up(h);
	rearm(h);	/* deasserts what was asserted */
	pthread_mutex_unlock(&h->lock);
	vmti_irq_flush(&h->irq);
	return 0;
}

int vmt_hpet_config_init(struct vmt_hpet_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->freq_hz = VMT_HPET_FREQ_DEFAULT;
	cfg->timers = 3;
	cfg->route_cap = VMT_HPET_ROUTE_CAP_DEFAULT;
	return 0;
}

int vmt_hpet_new(vmt_loop *loop, const struct vmt_hpet_config *cfg, vmt_hpet **ret)
{
	char name[VMT_DEV_NAME_MAX + 1];
	uint64_t freq, period;
	unsigned n;
	struct vmt_hpet *h;
	int r;

	if (!loop || !cfg || !ret || (unsigned)cfg->dev.ticks > VMT_TICKS_DELAY)
		return -EINVAL;
	freq = cfg->freq_hz ? cfg->freq_hz : VMT_HPET_FREQ_DEFAULT;
	n = cfg->timers ? cfg->timers : 3;
	if (freq > FREQ_MAX || n < 3 || n > VMT_HPET_TIMERS_MAX)
		return -EINVAL;
	period = (FS_PER_SEC + freq / 2) / freq;
	if (period > PERIOD_FS_MAX)
		return -EINVAL;
	r = vmti_dev_name(cfg->dev.name, "hpet", name);
	if (r < 0)
		return r;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	r = -pthread_mutex_init(&h->lock, NULL);
	if (r < 0)
		goto fail;
	r = vmti_irq_init(&h->irq, cfg->dev.irq, cfg->dev.irq_opaque, &h->lock, irq_done, h);
	if (r < 0)
		goto fail_lock;
	r = vmt_timer_new(loop, VMT_CLOCK_VM, timer_fn, h, &h->timer);
	if (r < 0)
		goto fail_irq;
	vmt_timer_set_name(h->timer, name);
	strcpy(h->name, name);
	h->src = vmt_loop_source(loop);
	h->ticks = cfg->dev.ticks;
	h->min_period = cfg->dev.min_period_ns ? cfg->dev.min_period_ns : VMT_DEV_MIN_PERIOD_NS;
	h->period_fs = period;
	h->n = n;
	h->route_cap = cfg->route_cap ? cfg->route_cap : VMT_HPET_ROUTE_CAP_DEFAULT;
	power_up(h);
	*ret = h;
	return 0;

fail_irq:
	vmti_irq_destroy(&h->irq);
fail_lock:
	pthread_mutex_destroy(&h->lock);
fail:
	free(h);
	return r;
}

vmt_hpet *vmt_hpet_free(vmt_hpet *h)
{
	if (!h)
		return NULL;
	vmt_timer_free(h->timer);
	vmti_irq_destroy(&h->irq);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return NULL;
}

/* ---- saved state ---------------------------------------------------------- */

int vmt_hpet_save(vmt_hpet *h, vmt_fields_writer *w, uint32_t id)
{
	vmt_ns vm;
	int r;

	if (!h || !w)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	advance(h, 0);
	vm = vm_now(h);
	/* The writer's errors are sticky: checking the last call is enough. */
	vmt_fields_begin_group(w, id);
	vmt_fields_put_u64(w, F_VERSION, FIELD_STATE_VERSION);
	vmt_fields_put_u64(w, F_TIMERS, h->n);
	vmt_fields_put_u64(w, F_GEN_CONF, h->gen_conf);
	vmt_fields_put_u64(w, F_STATUS, h->status);
	vmt_fields_put_u64(w, F_CBASE, h->cbase);
	vmt_fields_put_u64(w, F_ELAPSED, enabled(h) && vm > h->cstart ? vm - h->cstart : 0);
	vmt_fields_put_u64(w, F_ACC, h->acc);
	for (unsigned i = 0; i < h->n; i++) {
		const struct comparator *c = &h->t[i];
		uint32_t f = F_TIMER0 + TF_COUNT * i;

		vmt_fields_put_u64(w, f + TF_CONFIG, c->config);
		vmt_fields_put_u64(w, f + TF_CMP, c->cmp);
		vmt_fields_put_u64(w, f + TF_PERIOD, c->period);
		vmt_fields_put_u64(w, f + TF_BACKLOG, c->backlog);
	}
	r = vmt_fields_end_group(w);
	pthread_mutex_unlock(&h->lock);
	vmti_irq_flush(&h->irq);
	return r < 0 ? r : 0;
}

struct saved {
	uint64_t version, timers, gen_conf, status, cbase, elapsed, acc;
	uint64_t t[VMT_HPET_TIMERS_MAX][TF_COUNT];
};

static int read_saved(const struct vmt_hpet *h, const vmt_fields_reader *g, struct saved *s)
{
	uint64_t *head[] = { &s->version, &s->timers, &s->gen_conf, &s->status,
			     &s->cbase,	  &s->elapsed, &s->acc };
	int e;

	for (uint32_t i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
		e = vmt_fields_get_u64(g, F_VERSION + i, head[i]);
		if (e < 0)
			return e;
	}
	if (s->version != FIELD_STATE_VERSION || s->timers != h->n)
		return -EBADMSG;
	for (unsigned i = 0; i < h->n; i++)
		for (uint32_t f = 0; f < TF_COUNT; f++) {
			e = vmt_fields_get_u64(g, F_TIMER0 + TF_COUNT * i + f, &s->t[i][f]);
			if (e < 0)
				return e;
		}
	return 0;
}

static int saved_ok(const struct vmt_hpet *h, const struct saved *s)
{
	if (s->gen_conf & ~(uint64_t)GEN_CONF_WRITABLE || s->status >> h->n)
		return 0;
	if (s->acc > sat((u128)s->elapsed * FS_PER_NS / h->period_fs))
		return 0;
	for (unsigned i = 0; i < h->n; i++) {
		uint64_t conf = s->t[i][TF_CONFIG];

		if (conf & ~(uint64_t)TN_WRITABLE || s->t[i][TF_BACKLOG] > VMT_TICKS_BACKLOG_MAX)
			return 0;
		if (conf & VMT_HPET_TN_32MODE_CNF &&
		    (s->t[i][TF_CMP] > UINT32_MAX || s->t[i][TF_PERIOD] > UINT32_MAX))
			return 0;
		if (!(conf & VMT_HPET_TN_INT_TYPE_CNF) && s->status >> i & 1)
			return 0;	/* an edge comparator has no status */
	}
	return 1;
}

int vmt_hpet_restore(vmt_hpet *h, const vmt_fields_reader *r, uint32_t id)
{
	struct saved s;
	vmt_fields_reader g;
	vmt_ns vm;
	int e;

	if (!h || !r)
		return -EINVAL;
	e = vmt_fields_get_group(r, id, &g);
	if (e < 0)
		return e;
	e = read_saved(h, &g, &s);
	if (e < 0)
		return e;
	if (!saved_ok(h, &s))
		return -EBADMSG;

	pthread_mutex_lock(&h->lock);
	vm = vm_now(h);
	drop_inflight(h);
	h->gen_conf = (uint32_t)s.gen_conf;
	h->status = (uint32_t)s.status;
	h->cbase = s.cbase;
	h->acc = s.acc;
	/* The counter resumes @elapsed into its run at the current VM time. */
	if (vm >= s.elapsed) {
		h->cstart = vm - s.elapsed;
	} else {
		h->cbase += s.acc;	/* a VM clock behind the save: the sub-tick part is lost */
		h->acc = 0;
		h->cstart = vm;
	}
	for (unsigned i = 0; i < h->n; i++) {
		struct comparator *c = &h->t[i];

		c->config = (uint32_t)s.t[i][TF_CONFIG];
		c->cmp = s.t[i][TF_CMP];
		c->period = s.t[i][TF_PERIOD];
		c->backlog = s.t[i][TF_BACKLOG];
		memset(&c->stats, 0, sizeof(c->stats));
		c->stats.ticks = c->backlog;	/* the books: ticks == raised + lost + backlog */
		c->next_raise = 0;
		c->retry_at = 0;
	}
	/* The controller was restored with these levels: nothing to send. */
	vmti_irq_clear(&h->irq);
	h->irq.levels = asserted_lines(h);
	rearm(h);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* ---- inspection ----------------------------------------------------------- */

static void stats_sum(const struct vmt_hpet *h, struct vmt_dev_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < h->n; i++) {
		const struct comparator *c = &h->t[i];

		st->ticks += c->stats.ticks;
		st->raised += c->stats.raised;
		st->coalesced += c->stats.coalesced;
		st->lost += c->stats.lost;
		st->backlog += c->backlog + c->inflight;
	}
	st->due = 0;	/* advance() has just accounted every match */
}

int vmt_hpet_get_stats(vmt_hpet *h, struct vmt_dev_stats *stats)
{
	if (!h || !stats)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	advance(h, 0);
	stats_sum(h, stats);
	rearm(h);
	pthread_mutex_unlock(&h->lock);
	vmti_irq_flush(&h->irq);
	return 0;
}

struct timer_view {
	uint64_t conf, cmp, period, backlog;
	int line;
};

static int print_timer(FILE *out, const struct timer_view *v, unsigned i)
{
	return fprintf(out,
		       "%s{\"config\":%" PRIu64 ",\"comparator\":%" PRIu64 ",\"period\":%" PRIu64
		       ",\"mode\":\"%s\",\"level\":%s,\"enabled\":%s,\"mode32\":%s,\"line\":%d"
		       ",\"backlog\":%" PRIu64 "}",
		       i ? "," : "", v->conf, v->cmp, v->period,
		       v->conf & VMT_HPET_TN_TYPE_CNF ? "periodic" : "one-shot",
		       v->conf & VMT_HPET_TN_INT_TYPE_CNF ? "true" : "false",
		       v->conf & VMT_HPET_TN_INT_ENB_CNF ? "true" : "false",
		       v->conf & VMT_HPET_TN_32MODE_CNF ? "true" : "false", v->line, v->backlog);
}

int vmt_hpet_inspect(vmt_hpet *h, FILE *out)
{
	struct timer_view v[VMT_HPET_TIMERS_MAX];
	struct vmt_dev_stats st;
	uint64_t cnt;
	uint32_t conf, status;
	int n;

	if (!h || !out)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	advance(h, 0);
	stats_sum(h, &st);
	cnt = counter(h);
	conf = h->gen_conf;
	status = h->status;
	for (unsigned i = 0; i < h->n; i++)
		v[i] = (struct timer_view){ tn_conf(h, i), h->t[i].cmp, h->t[i].period,
					    h->t[i].backlog, line_of(h, i) };
	rearm(h);
	pthread_mutex_unlock(&h->lock);
	vmti_irq_flush(&h->irq);

	n = fprintf(out,
		    "{\"name\":\"%s\",\"period_fs\":%" PRIu64 ",\"enabled\":%s,\"legacy\":%s"
		    ",\"counter\":%" PRIu64 ",\"status\":%" PRIu32 ",\"ticks\":\"%s\",\"timers\":[",
		    h->name, h->period_fs, conf & VMT_HPET_ENABLE_CNF ? "true" : "false",
		    conf & VMT_HPET_LEG_RT_CNF ? "true" : "false", cnt, status,
		    vmt_tick_policy_name(h->ticks));
	for (unsigned i = 0; i < h->n; i++)
		n |= print_timer(out, &v[i], i);
	n |= fprintf(out,
		     "],\"stats\":{\"ticks\":%" PRIu64 ",\"raised\":%" PRIu64
		     ",\"coalesced\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"backlog\":%" PRIu64 "}}",
		     st.ticks, st.raised, st.coalesced, st.lost, st.backlog);
	return n < 0 || ferror(out) ? -EIO : 0;
}

static int unit_op(void *dev, enum vmti_unit_op op, vmt_fields_writer *w,
		   const vmt_fields_reader *r, FILE *out)
{
	switch (op) {
	case VMTI_UNIT_RESET:
		return vmt_hpet_reset(dev);
	case VMTI_UNIT_SAVE:
		return vmt_hpet_save(dev, w, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_RESTORE:
		return vmt_hpet_restore(dev, r, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_INSPECT:
		return vmt_hpet_inspect(dev, out);
	}
	return -EINVAL;
}

int vmt_hpet_add_unit(vmt_hpet *h, vmt_units *units, vmt_unit **ret)
{
	if (!h || !units)
		return -EINVAL;
	h->unit = (struct vmti_dev_unit){ unit_op, h, h->name };
	return vmti_dev_unit_add(units, &h->unit, ret);
}
