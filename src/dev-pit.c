/* SPDX-License-Identifier: MIT */
/*
 * dev-pit.c - the Intel 8254 PIT (see vmtime/pit.h).
 *
 * No timer makes a counter count.  Each channel's counting element (CE) is
 * a function of the global input-clock index C(t) = floor(t * 1193182 / 1e9)
 * of VM time t: the clocks it has counted since it was loaded are
 *
 *	d = d_acc + (C - c_ref)		while counting (C >= c_ref)
 *	d = d_acc			while the gate holds it
 *
 * and the value and OUT of each mode follow from d and the count n it was
 * loaded with.  A write loads the CE on the next clock edge (c_ref = C + 1),
 * as the datasheet has it, so until then the channel shows what it showed
 * before (ce_hold, out_hold).
 *
 * Channel 0's rising OUT edges are IRQ0's ticks.  They are counted on the
 * same d scale: d_done is how far the ticks were handed to the tick policy,
 * so the ticks due at any instant are the edges in (d_done, d(now)], read
 * under the lock from the VM clock, never from the timer that wakes the
 * loop thread.  That timer only says when to look again:
 *
 *   loop thread                       vCPU thread
 *   dispatch collects irq timer
 *   (its deadline moves on)
 *                                     stats: due = edges(d_done, d(now))
 *                                     -- still counts the collected tick
 *   callback: lock, edges handed
 *   to the policy, d_done = d(now)
 *
 * The example PIT this replaces computed "owed" from the timer's deadline
 * and missed exactly that window (issue 9 defect 12).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/pit.h>
#include <vmtime/source.h>
#include <vmtime/timer.h>

#include "dev-irq.h"

#define MOD_BIN 0x10000u
#define MOD_BCD 10000u
#define NO_CLOCK UINT64_MAX

/* Snapshot fields of the device's group. */
enum {
	F_CH0 = 1,		/* groups 1..3 */
	F_PORT61 = 10,
	F_SHIFT = 11,
	F_BACKLOG = 12,

	FC_RW = 1,
	FC_MODE = 2,
	FC_MODE_BITS = 3,
	FC_BCD = 4,
	FC_GATE = 5,
	FC_FLIPS = 6,		/* bit 0 write flip-flop, bit 1 read flip-flop */
	FC_WLOW = 7,
	FC_LATCH = 8,		/* bit 16 latched, bits 0-15 the value */
	FC_STATUS = 9,		/* bit 8 latched, bits 0-7 the byte */
	FC_CR = 10,
	FC_N = 11,
	FC_PEND = 12,
	FC_RUNNING = 13,
	FC_REF = 14,		/* c_ref - C(now) */
	FC_NULL = 15,		/* c_null - C(now), INT64_MAX: until a load */
	FC_ACC = 16,
	FC_DONE = 17,
	FC_HOLD = 18,		/* bit 16 out_hold, bits 0-15 ce_hold */
	FC_SW = 19,		/* c_sw - C(now) */
};

struct chan {
	uint8_t rw;		/* RW field of the control word, 0: unprogrammed */
	uint8_t mode;		/* 0-5 */
	uint8_t mode_bits;	/* M2-M0 as written, for the status byte */
	uint8_t bcd;
	uint8_t gate;
	uint8_t wflip, rflip;	/* word access: the next byte is the high one */
	uint8_t wlow;
	uint8_t latched, st_latched;
	uint16_t latch;
	uint8_t status;
	uint8_t running;	/* the gate lets the CE count */
	uint8_t out_hold;	/* OUT before the CE is loaded */
	uint16_t ce_hold;	/* what reads show before the CE is loaded */
	uint32_t cr;		/* count register, 1..mod, 0: none written */
	uint32_t n;		/* count the CE was loaded with, 0: not loaded */
	uint32_t pend;		/* modes 2/3: count for the next reload, 0: none */
	uint64_t c_ref;
	uint64_t c_null;	/* null count until this clock; 0: clear */
	uint64_t c_sw;		/* when pend takes over */
	uint64_t d_acc;
	uint64_t d_done;	/* channel 0: edges up to here are accounted */
	vmt_ns loaded_at;
};

struct vmt_pit {
	pthread_mutex_t lock;
	vmt_loop *loop;
	vmt_source *src;
	vmt_timer *timer;
	struct vmti_irq irq;
	char name[VMT_DEV_NAME_MAX + 1];
	struct vmti_dev_unit unit;
	enum vmt_tick_policy policy;
	vmt_ns min_period, retry;
	struct chan ch[3];
	uint8_t port61;		/* bits 0-3 as written */
	uint64_t shift;		/* DELAY: IRQ0 edges at d = shift mod period */
	uint64_t backlog;	/* REINJECT ticks not raised yet */
	uint64_t inflight;	/* pulses queued, done() not back */
	int reinj_inflight;
	vmt_ns retry_at;
	uint32_t gen;		/* bumped by reset/restore: stale done()s ignored */
	struct vmt_dev_stats st;
};

/* ---- time ------------------------------------------------------------- */

static uint64_t clock_at(vmt_ns t)
{
	return (uint64_t)((unsigned __int128)t * VMT_PIT_FREQ_HZ / VMT_NS_PER_SEC);
}

/* The first VM ns at which clock edge @c has happened. */
static vmt_ns time_of_clock(uint64_t c)
{
	unsigned __int128 t = ((unsigned __int128)c * VMT_NS_PER_SEC + VMT_PIT_FREQ_HZ - 1) /
			      VMT_PIT_FREQ_HZ;

	return t >= VMT_NS_NEVER ? VMT_NS_NEVER : (vmt_ns)t;
}

static vmt_ns vm_now(const vmt_pit *pit)
{
	return vmt_now(pit->src, VMT_CLOCK_VM);
}

/* ---- the counting element ---------------------------------------------- */

static uint32_t modulus(const struct chan *c)
{
	return c->bcd ? MOD_BCD : MOD_BIN;
}

static int periodic(const struct chan *c)
{
	return c->mode == 2 || c->mode == 3;
}

static int loaded(const struct chan *c, uint64_t C)
{
	return c->n && !(c->running && C < c->c_ref);
}

static uint64_t elapsed(const struct chan *c, uint64_t C)
{
	if (!c->running || C < c->c_ref)
		return c->d_acc;
	return c->d_acc + (C - c->c_ref);
}

/* Mode 2 reloads at the end of the period, mode 3 at the end of a half. */
static uint64_t reload_d(const struct chan *c, uint64_t d)
{
	uint64_t p = d % c->n, h = (c->n + 1) / 2;

	if (c->mode == 3 && p < h)
		return d - p + h;
	return d - p + c->n;
}

/* The clock at which a pending count of modes 2/3 takes over (NO_CLOCK: none). */
static uint64_t switch_clock(const struct chan *c, uint64_t C)
{
	(void)C;
	if (!c->pend || !c->n || !c->running)
		return NO_CLOCK;
	return c->c_sw;
}

/* The CE as the pending count makes it at clock @csw (a reload). */
static void take_pending(struct chan *c, uint64_t csw)
{
	uint64_t d = c->d_acc + (csw - c->c_ref);
	int mid = c->mode == 3 && d % c->n != 0;

	c->n = c->pend;
	c->pend = 0;
	c->c_ref = csw;
	/* Mode 3 after the high half goes on with the low half of the new count. */
	c->d_acc = mid ? (c->n + 1) / 2 : 0;
	c->d_done = c->d_acc;
	c->c_null = 0;
}

/* The CE's value (not yet BCD-coded), 0..mod. */
static uint32_t ce_value(const struct chan *c, uint64_t d)
{
	uint32_t m = modulus(c), n = c->n;
	uint64_t p;

	switch (c->mode) {
	case 2:
		return n - (uint32_t)(d % n);
	case 3:
		p = d % n;
		if (n % 2 == 0)
			return n - 2 * (uint32_t)(p % (n / 2));
		/* Odd: N-1, N-3, ..., 0 for (N+1)/2 clocks, then N-1, ..., 2. */
		if (p < (n + 1) / 2)
			return p == (n - 1) / 2 ? 0 : n - 1 - 2 * (uint32_t)p;
		return n - 1 - 2 * (uint32_t)(p - (n + 1) / 2);
	default:
		/* One-shot modes wrap through 0xffff (9999) and go on counting. */
		return (uint32_t)((n + m - d % m) % m);
	}
}

static int ce_out(const struct chan *c, uint64_t d)
{
	uint32_t n = c->n;

	switch (c->mode) {
	case 0:
	case 1:
		return d >= n;
	case 2:
		return !c->gate || n == 1 || d % n != n - 1;
	case 3:
		return !c->gate || d % n < (n + 1) / 2;
	default:
		return d != n;
	}
}

/* A pure view of a channel at clock @C, with a pending count applied if due. */
static void view(const struct chan *c, uint64_t C, struct chan *v)
{
	uint64_t csw = switch_clock(c, C);

	*v = *c;
	if (csw <= C)
		take_pending(v, csw);
}

static uint16_t to_bcd(uint32_t v)
{
	return (uint16_t)(v % 10 | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 | (v / 1000 % 10) << 12);
}

static uint32_t from_bcd(uint32_t v)
{
	/* Digits above 9 are not BCD; they weigh what their nibble says. */
	return (v & 0xf) + (v >> 4 & 0xf) * 10 + (v >> 8 & 0xf) * 100 + (v >> 12 & 0xf) * 1000;
}

/* What a read of the counter shows at clock @C (16 bits, BCD-coded if BCD). */
static uint16_t read_value(const struct chan *c, uint64_t C)
{
	struct chan v;
	uint32_t x;

	view(c, C, &v);
	if (!loaded(&v, C))
		return v.ce_hold;
	x = ce_value(&v, elapsed(&v, C)) % modulus(&v);
	return v.bcd ? to_bcd(x) : (uint16_t)x;
}

static int out_level(const struct chan *c, uint64_t C)
{
	struct chan v;

	view(c, C, &v);
	if (!loaded(&v, C))
		return v.out_hold || (periodic(&v) && !v.gate);
	return ce_out(&v, elapsed(&v, C));
}

static int null_count(const struct chan *c, uint64_t C)
{
	struct chan v;

	view(c, C, &v);
	return v.c_null && C < v.c_null;
}

/* ---- IRQ0's ticks -------------------------------------------------------- */

/* Periods per IRQ0 tick: the fewest that last min_period (the clamp). */
static uint64_t irq_period(const vmt_pit *pit, const struct chan *c)
{
	uint64_t min_clocks = clock_at(pit->min_period) + 1;
	uint64_t k = (min_clocks + c->n - 1) / c->n;

	return (k ? k : 1) * c->n;
}

/* Rising edges of OUT0 in (d_done, d]; *@last gets the d of the last one. */
static uint64_t edges(const vmt_pit *pit, const struct chan *c, uint64_t d, uint64_t *last)
{
	uint64_t e, P, off;

	if (!c->n || d <= c->d_done)
		return 0;
	if (periodic(c)) {
		P = irq_period(pit, c);
		off = P - pit->shift % P;
		e = (d + off) / P - (c->d_done + off) / P;
		if (e && last)
			*last = (d + off) / P * P - off;
		return e;
	}
	/* One-shot modes rise once: at 0 (modes 0, 1), after the strobe (4, 5). */
	P = c->mode <= 1 ? c->n : (uint64_t)c->n + 1;
	if (c->d_done < P && d >= P) {
		if (last)
			*last = P;
		return 1;
	}
	return 0;
}

/* Ticks of channel 0 due at @C and not yet accounted (a pure reading). */
static uint64_t due(const vmt_pit *pit, uint64_t C)
{
	const struct chan *c = &pit->ch[0];
	uint64_t csw = switch_clock(c, C), n = 0;
	struct chan v;

	if (!c->n)
		return 0;
	if (csw <= C) {
		n = edges(pit, c, c->d_acc + (csw - c->c_ref), NULL);
		view(c, C, &v);
		return n + edges(pit, &v, elapsed(&v, C), NULL);
	}
	return edges(pit, c, elapsed(c, C), NULL);
}

static void pulse(vmt_pit *pit, int reinject)
{
	pit->inflight++;
	if (reinject)
		pit->reinj_inflight = 1;
	vmti_irq_pulse(&pit->irq, 0, pit->gen << 1 | (uint32_t)reinject);
}

static void try_reinject(vmt_pit *pit, vmt_ns now)
{
	if (pit->policy != VMT_TICKS_REINJECT || !pit->backlog || pit->reinj_inflight ||
	    now < pit->retry_at)
		return;
	pit->backlog--;
	pulse(pit, 1);
}

/* Hand @k ticks to the policy; @late: the last one is behind @d_now. */
static void ticks(vmt_pit *pit, uint64_t k, vmt_ns now)
{
	pit->st.ticks += k;
	if (pit->policy == VMT_TICKS_REINJECT) {
		pit->backlog += k;
		if (pit->backlog > VMT_TICKS_BACKLOG_MAX) {
			pit->st.lost += pit->backlog - VMT_TICKS_BACKLOG_MAX;
			pit->backlog = VMT_TICKS_BACKLOG_MAX;
		}
		try_reinject(pit, now);
		return;
	}
	/* One edge stands for every tick of this look; the others are lost. */
	pit->st.lost += k - 1;
	pulse(pit, 0);
}

/* Account channel 0's edges up to @d on its current grid. */
static void account_to(vmt_pit *pit, uint64_t d, vmt_ns now)
{
	struct chan *c = &pit->ch[0];
	uint64_t last = 0, k = edges(pit, c, d, &last), P;

	if (d > c->d_done)
		c->d_done = d;
	if (!k)
		return;
	/* DELAY: a late look moves the grid so the next tick is a period away. */
	if (pit->policy == VMT_TICKS_DELAY && periodic(c) && d != last) {
		P = irq_period(pit, c);
		pit->shift = d % P;
	}
	ticks(pit, k, now);
}

/*
 * Bring every channel to clock @C: pending counts of modes 2/3 that are due
 * take over, and channel 0's edges are handed to the policy, those on the
 * old count's grid first.  Every state change starts here, so the ticks due
 * go to the policy and grid they were due under.
 */
static void advance(vmt_pit *pit, vmt_ns now)
{
	uint64_t C = clock_at(now), csw;

	for (int i = 0; i < 3; i++) {
		struct chan *c = &pit->ch[i];

		csw = switch_clock(c, C);
		if (csw <= C) {
			if (i == 0)
				account_to(pit, c->d_acc + (csw - c->c_ref), now);
			take_pending(c, csw);
			if (i == 0)
				pit->shift = 0;
		}
		if (i == 0 && loaded(c, C))
			account_to(pit, elapsed(c, C), now);
	}
}

/* The VM time of channel 0's next edge, NO deadline: VMT_NS_NEVER. */
static vmt_ns next_edge(const vmt_pit *pit)
{
	const struct chan *c = &pit->ch[0];
	uint64_t P, r, d;

	if (!c->n || !c->running)
		return VMT_NS_NEVER;
	if (periodic(c)) {
		P = irq_period(pit, c);
		r = (c->d_done + P - pit->shift % P) % P;
		d = c->d_done + (P - r);
	} else {
		d = c->mode <= 1 ? c->n : (uint64_t)c->n + 1;
		if (c->d_done >= d)
			return VMT_NS_NEVER;
	}
	return time_of_clock(c->c_ref + (d - c->d_acc));
}

static void rearm(vmt_pit *pit)
{
	vmt_ns dl = next_edge(pit), t;
	uint64_t csw = switch_clock(&pit->ch[0], clock_at(vm_now(pit)));

	if (csw != NO_CLOCK && (t = time_of_clock(csw)) < dl)
		dl = t;
	if (pit->policy == VMT_TICKS_REINJECT && pit->backlog && !pit->reinj_inflight &&
	    pit->retry_at < dl)
		dl = pit->retry_at;
	if (vmt_timer_deadline(pit->timer) != dl || vmt_timer_pending(pit->timer) != (dl != VMT_NS_NEVER))
		vmt_timer_arm(pit->timer, dl);
}

/* A pulse's outcome (dev-irq's done(), under the lock). */
static void irq_done(void *dev, unsigned line, uint32_t tag, int taken)
{
	vmt_pit *pit = dev;
	int reinject = tag & 1;

	(void)line;
	if (tag >> 1 != (pit->gen & 0x7fffffffu))
		return;	/* raised before a reset or restore: not ours to count */
	pit->inflight--;
	if (taken) {
		pit->st.raised++;
	} else {
		pit->st.coalesced++;
		/* Without a controller there is nobody to retry for. */
		if (reinject && pit->policy == VMT_TICKS_REINJECT && pit->irq.fn)
			pit->backlog++;
		else
			pit->st.lost++;
	}
	if (reinject) {
		/* The controller holds it until the guest acknowledges: wait. */
		pit->reinj_inflight = 0;
		pit->retry_at = vmt_ns_add(vm_now(pit), pit->retry);
		rearm(pit);
	}
}

static void timer_cb(vmt_timer *t, uint64_t expirations, void *userdata)
{
	vmt_pit *pit = userdata;
	vmt_ns now;

	(void)t;
	(void)expirations;
	pthread_mutex_lock(&pit->lock);
	now = vm_now(pit);
	advance(pit, now);
	try_reinject(pit, now);
	rearm(pit);
	pthread_mutex_unlock(&pit->lock);
	vmti_irq_flush(&pit->irq);
}

/* ---- registers ---------------------------------------------------------- */

/* Load @v into the CE on the next clock edge. */
static void load(vmt_pit *pit, struct chan *c, uint32_t v, uint64_t C, vmt_ns now)
{
	c->out_hold = (uint8_t)out_level(c, C);
	c->ce_hold = read_value(c, C);
	c->n = v;
	c->pend = 0;
	c->d_acc = 0;
	c->d_done = 0;
	c->c_ref = C + 1;
	c->c_null = C + 1;
	c->running = c->mode == 1 || c->mode == 5 || c->gate;
	c->loaded_at = now;
	if (c == &pit->ch[0])
		pit->shift = 0;
}

/* Hold the CE where it is (gate low, mode 0's first byte). */
static void freeze(struct chan *c, uint64_t C)
{
	if (!c->running)
		return;
	if (C < c->c_ref)
		C = c->c_ref;
	c->d_acc = elapsed(c, C);
	c->c_ref = C;
	c->running = 0;
	if (c->pend)
		c->c_null = NO_CLOCK;
}

static void write_count(vmt_pit *pit, struct chan *c, uint32_t raw, uint64_t C, vmt_ns now)
{
	uint32_t m = modulus(c), v = c->bcd ? from_bcd(raw) : raw;

	v %= m;
	c->cr = v ? v : m;	/* 0 is the largest count: 65536, or 10000 in BCD */
	switch (c->mode) {
	case 1:
	case 5:
		/* Taken at the next trigger. */
		c->c_null = NO_CLOCK;
		break;
	case 2:
	case 3:
		if (c->n && c->running) {
			/* The current period (half) ends first. */
			if (!c->pend)
				c->c_sw = c->c_ref + (reload_d(c, elapsed(c, C < c->c_ref ? c->c_ref : C)) -
						      c->d_acc);
			c->pend = c->cr;
			c->c_null = c->c_sw;
			break;
		}
		/* fall through */
	default:
		load(pit, c, c->cr, C, now);
		break;
	}
}

static void write_data(vmt_pit *pit, struct chan *c, uint8_t val, uint64_t C, vmt_ns now)
{
	switch (c->rw) {
	case 1:
		write_count(pit, c, val, C, now);
		break;
	case 2:
		write_count(pit, c, (uint32_t)val << 8, C, now);
		break;
	case 3:
		if (!c->wflip) {
			c->wlow = val;
			c->wflip = 1;
			/* Mode 0: writing the first byte stops the count. */
			if (c->mode == 0)
				freeze(c, C);
		} else {
			c->wflip = 0;
			write_count(pit, c, c->wlow | (uint32_t)val << 8, C, now);
		}
		break;
	default:
		break;	/* no control word yet: the chip ignores data */
	}
}

static void latch_count(struct chan *c, uint64_t C)
{
	if (c->latched || !c->rw)
		return;
	c->latch = read_value(c, C);
	c->latched = 1;
}

static void latch_status(struct chan *c, uint64_t C)
{
	if (c->st_latched)
		return;
	c->status = (uint8_t)(out_level(c, C) << 7 | null_count(c, C) << 6 | c->rw << 4 |
			      c->mode_bits << 1 | c->bcd);
	c->st_latched = 1;
}

static void write_control(vmt_pit *pit, uint8_t val, uint64_t C)
{
	unsigned sc = val >> 6, rw = (val >> 4) & 3, m = (val >> 1) & 7;
	struct chan *c;

	if (sc == 3) {
		/* Read-back: bits 1-3 pick channels; bits 5 and 4 are active low. */
		for (int i = 0; i < 3; i++) {
			if (!(val & (2u << i)))
				continue;
			if (!(val & 0x20))
				latch_count(&pit->ch[i], C);
			if (!(val & 0x10))
				latch_status(&pit->ch[i], C);
		}
		return;
	}
	c = &pit->ch[sc];
	if (rw == 0) {
		latch_count(c, C);
		return;
	}
	c->ce_hold = read_value(c, C);
	c->rw = (uint8_t)rw;
	c->mode_bits = (uint8_t)m;
	c->mode = (uint8_t)(m >= 6 ? m - 4 : m);	/* 6 and 7 are 2 and 3 */
	c->bcd = val & 1;
	c->wflip = c->rflip = 0;
	c->latched = c->st_latched = 0;
	c->cr = c->n = c->pend = 0;
	c->running = 0;
	c->d_acc = c->d_done = 0;
	c->c_null = NO_CLOCK;
	c->out_hold = c->mode != 0;
	if (sc == 0) {
		/* Reprogramming channel 0 drops what it still owed (as KVM does). */
		pit->st.lost += pit->backlog;
		pit->backlog = 0;
		pit->shift = 0;
	}
}

static void set_gate(vmt_pit *pit, struct chan *c, int level, uint64_t C, vmt_ns now)
{
	if (c->gate == level)
		return;
	c->gate = (uint8_t)level;
	if (!c->rw)
		return;
	if (level) {
		switch (c->mode) {
		case 1:
		case 5:
		case 2:
		case 3:
			/* A rising edge triggers (1, 5) or restarts (2, 3) with the CR. */
			if (c->cr)
				load(pit, c, c->cr, C, now);
			break;
		default:
			if (c->n) {
				c->c_ref = C;
				c->running = 1;
			}
			break;
		}
	} else if (c->mode != 1 && c->mode != 5) {
		freeze(c, C);
	}
}

static uint8_t read_data(struct chan *c, uint64_t C)
{
	uint16_t v;
	int hi;

	if (c->st_latched) {
		c->st_latched = 0;
		return c->status;
	}
	v = c->latched ? c->latch : read_value(c, C);
	switch (c->rw) {
	case 2:
		hi = 1;
		break;
	case 3:
		hi = c->rflip;
		c->rflip ^= 1;
		break;
	default:
		hi = 0;
		break;
	}
	if (c->latched && (c->rw != 3 || hi))
		c->latched = 0;
	return hi ? (uint8_t)(v >> 8) : (uint8_t)v;
}

static uint8_t read_port61(const vmt_pit *pit, vmt_ns now, uint64_t C)
{
	uint8_t v = pit->port61 & VMT_PIT_61_RW_MASK;

	if ((now / VMT_PIT_REFRESH_NS) & 1)
		v |= VMT_PIT_61_REFRESH;
	if (out_level(&pit->ch[2], C))
		v |= VMT_PIT_61_OUT2;
	return v;
}

static int check_access(const vmt_pit *pit, uint64_t offset, unsigned size)
{
	if (!pit || size != 1 || (offset > VMT_PIT_CONTROL && offset != VMT_PIT_PORT61))
		return -EINVAL;
	return 0;
}

int vmt_pit_read(vmt_pit *pit, uint64_t offset, unsigned size, uint64_t *val)
{
	vmt_ns now;
	uint64_t C;
	uint8_t v;

	if (check_access(pit, offset, size) < 0 || !val)
		return -EINVAL;
	if (offset == VMT_PIT_CONTROL) {
		*val = 0xff;	/* write-only: nothing drives the bus */
		return 0;
	}
	pthread_mutex_lock(&pit->lock);
	now = vm_now(pit);
	C = clock_at(now);
	if (offset == VMT_PIT_PORT61)
		v = read_port61(pit, now, C);
	else
		v = read_data(&pit->ch[offset], C);
	pthread_mutex_unlock(&pit->lock);
	*val = v;
	return 0;
}

int vmt_pit_write(vmt_pit *pit, uint64_t offset, unsigned size, uint64_t val)
{
	uint8_t b = (uint8_t)val;
	vmt_ns now;
	uint64_t C;

	if (check_access(pit, offset, size) < 0)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	now = vm_now(pit);
	C = clock_at(now);
	advance(pit, now);
	if (offset == VMT_PIT_CONTROL) {
		write_control(pit, b, C);
	} else if (offset == VMT_PIT_PORT61) {
		pit->port61 = b & VMT_PIT_61_RW_MASK;
		set_gate(pit, &pit->ch[2], b & VMT_PIT_61_GATE2, C, now);
	} else {
		write_data(pit, &pit->ch[offset], b, C, now);
	}
	rearm(pit);
	pthread_mutex_unlock(&pit->lock);
	vmti_irq_flush(&pit->irq);
	return 0;
}

int vmt_pit_set_gate(vmt_pit *pit, unsigned ch, int level)
{
	vmt_ns now;

	if (!pit || ch > 2)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	now = vm_now(pit);
	advance(pit, now);
	set_gate(pit, &pit->ch[ch], !!level, clock_at(now), now);
	if (ch == 2)
		pit->port61 = (uint8_t)((pit->port61 & ~VMT_PIT_61_GATE2) | !!level);
	rearm(pit);
	pthread_mutex_unlock(&pit->lock);
	vmti_irq_flush(&pit->irq);
	return 0;
}

static int policy_valid(enum vmt_tick_policy p)
{
	return p == VMT_TICKS_COALESCE || p == VMT_TICKS_REINJECT || p == VMT_TICKS_DELAY;
}

int vmt_pit_set_policy(vmt_pit *pit, enum vmt_tick_policy policy)
{
	if (!pit || !policy_valid(policy))
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	/* Ticks already due belong to the policy they fell due under. */
	advance(pit, vm_now(pit));
	if (policy != pit->policy && pit->policy == VMT_TICKS_REINJECT) {
		pit->st.lost += pit->backlog;
		pit->backlog = 0;
	}
	pit->policy = policy;
	rearm(pit);
	pthread_mutex_unlock(&pit->lock);
	vmti_irq_flush(&pit->irq);
	return 0;
}

int vmt_pit_get_stats(vmt_pit *pit, struct vmt_dev_stats *stats)
{
	if (!pit || !stats)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	*stats = pit->st;
	stats->backlog = pit->backlog + pit->inflight;
	stats->due = due(pit, clock_at(vm_now(pit)));
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

int vmt_pit_loaded_at(vmt_pit *pit, unsigned ch, vmt_ns *t)
{
	if (!pit || ch > 2 || !t)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	*t = pit->ch[ch].loaded_at;
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void reset_locked(vmt_pit *pit)
{
	memset(pit->ch, 0, sizeof(pit->ch));
	for (int i = 0; i < 3; i++) {
		pit->ch[i].gate = i != 2;	/* 0, 1 tied high; 2 is port 0x61 bit 0 */
		pit->ch[i].loaded_at = VMT_NS_NEVER;
	}
	pit->port61 = 0;
	pit->shift = 0;
	pit->backlog = 0;
	pit->inflight = 0;
	pit->reinj_inflight = 0;
	pit->retry_at = 0;
	pit->gen = (pit->gen + 1) & 0x7fffffffu;
	vmti_irq_clear(&pit->irq);
	vmt_timer_cancel(pit->timer);
}

int vmt_pit_reset(vmt_pit *pit)
{
	if (!pit)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	reset_locked(pit);
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

int vmt_pit_config_init(struct vmt_pit_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->dev.ticks = VMT_TICKS_COALESCE;
	return 0;
}

int vmt_pit_new(vmt_loop *loop, const struct vmt_pit_config *cfg, vmt_pit **ret)
{
	vmt_pit *pit;
	int r;

	if (!loop || !cfg || !ret || !policy_valid(cfg->dev.ticks))
		return -EINVAL;
	pit = calloc(1, sizeof(*pit));
	if (!pit)
		return -ENOMEM;
	r = vmti_dev_name(cfg->dev.name, "pit", pit->name);
	if (r < 0) {
		free(pit);
		return r;
	}
	r = -pthread_mutex_init(&pit->lock, NULL);
	if (r < 0) {
		free(pit);
		return r;
	}
	r = vmti_irq_init(&pit->irq, cfg->dev.irq, cfg->dev.irq_opaque, &pit->lock, irq_done, pit);
	if (r < 0) {
		pthread_mutex_destroy(&pit->lock);
		free(pit);
		return r;
	}
	pit->loop = loop;
	pit->src = vmt_loop_source(loop);
	pit->policy = cfg->dev.ticks;
	pit->min_period = cfg->dev.min_period_ns ? cfg->dev.min_period_ns : VMT_DEV_MIN_PERIOD_NS;
	pit->retry = cfg->retry_ns > pit->min_period ? cfg->retry_ns : pit->min_period;
	r = vmt_timer_new(loop, VMT_CLOCK_VM, timer_cb, pit, &pit->timer);
	if (r < 0) {
		vmt_pit_free(pit);
		return r;
	}
	vmt_timer_set_name(pit->timer, pit->name);
	reset_locked(pit);
	*ret = pit;
	return 0;
}

vmt_pit *vmt_pit_free(vmt_pit *pit)
{
	if (!pit)
		return NULL;
	vmt_timer_free(pit->timer);
	vmti_irq_destroy(&pit->irq);
	pthread_mutex_destroy(&pit->lock);
	free(pit);
	return NULL;
}

/* ---- snapshot ----------------------------------------------------------- */

/* Clock indices travel relative to the clock at the save. */
static int64_t rel(uint64_t c, uint64_t C)
{
	if (c == NO_CLOCK)
		return INT64_MAX;
	return c >= C ? (int64_t)(c - C) : -(int64_t)(C - c);
}

static int absolute(int64_t r, uint64_t C, int64_t ahead, uint64_t *c)
{
	if (r == INT64_MAX) {
		*c = NO_CLOCK;
		return 0;
	}
	if (r < 0 && (uint64_t)-r > C)
		return -EBADMSG;
	if (r > ahead)
		return -EBADMSG;
	*c = r < 0 ? C - (uint64_t)-r : C + (uint64_t)r;
	return 0;
}

static void save_chan(const struct chan *c, vmt_fields_writer *w, uint64_t C)
{
	vmt_fields_put_u64(w, FC_RW, c->rw);
	vmt_fields_put_u64(w, FC_MODE, c->mode);
	vmt_fields_put_u64(w, FC_MODE_BITS, c->mode_bits);
	vmt_fields_put_u64(w, FC_BCD, c->bcd);
	vmt_fields_put_u64(w, FC_GATE, c->gate);
	vmt_fields_put_u64(w, FC_FLIPS, (uint64_t)c->wflip | (uint64_t)c->rflip << 1);
	vmt_fields_put_u64(w, FC_WLOW, c->wlow);
	vmt_fields_put_u64(w, FC_LATCH, c->latch | (uint64_t)c->latched << 16);
	vmt_fields_put_u64(w, FC_STATUS, c->status | (uint64_t)c->st_latched << 8);
	vmt_fields_put_u64(w, FC_CR, c->cr);
	vmt_fields_put_u64(w, FC_N, c->n);
	vmt_fields_put_u64(w, FC_PEND, c->pend);
	vmt_fields_put_u64(w, FC_RUNNING, c->running);
	vmt_fields_put_i64(w, FC_REF, rel(c->c_ref, C));
	vmt_fields_put_i64(w, FC_NULL, c->c_null ? rel(c->c_null, C) : INT64_MIN);
	vmt_fields_put_u64(w, FC_ACC, c->d_acc);
	vmt_fields_put_u64(w, FC_DONE, c->d_done);
	vmt_fields_put_u64(w, FC_HOLD, c->ce_hold | (uint64_t)c->out_hold << 16);
	vmt_fields_put_i64(w, FC_SW, c->pend ? rel(c->c_sw, C) : INT64_MAX);
}

int vmt_pit_save(vmt_pit *pit, vmt_fields_writer *w, uint32_t id)
{
	uint64_t C;
	int r;

	if (!pit || !w)
		return -EINVAL;
	r = vmt_fields_begin_group(w, id);
	if (r < 0)
		return r;
	pthread_mutex_lock(&pit->lock);
	/*
	 * Nothing is accounted here: a save must not raise interrupts.  The
	 * ticks due stay due, as d_done and the CE's phase travel together.
	 */
	C = clock_at(vm_now(pit));
	for (int i = 0; i < 3; i++) {
		vmt_fields_begin_group(w, F_CH0 + (uint32_t)i);
		save_chan(&pit->ch[i], w, C);
		vmt_fields_end_group(w);
	}
	vmt_fields_put_u64(w, F_PORT61, pit->port61);
	vmt_fields_put_u64(w, F_SHIFT, pit->shift);
	vmt_fields_put_u64(w, F_BACKLOG, pit->backlog);
	pthread_mutex_unlock(&pit->lock);
	vmt_fields_end_group(w);
	return vmt_fields_writer_error(w);
}

static int get_max(const vmt_fields_reader *r, uint32_t id, uint64_t max, uint64_t *v)
{
	int e = vmt_fields_get_u64(r, id, v);

	if (e < 0)
		return e;
	return *v > max ? -EBADMSG : 0;
}

static int restore_chan(struct chan *c, const vmt_fields_reader *r, uint64_t C)
{
	uint64_t v[18];
	int64_t ref, nul, sw;
	int e;

	if ((e = get_max(r, FC_RW, 3, &v[0])) < 0 || (e = get_max(r, FC_MODE, 5, &v[1])) < 0 ||
	    (e = get_max(r, FC_MODE_BITS, 7, &v[2])) < 0 || (e = get_max(r, FC_BCD, 1, &v[3])) < 0 ||
	    (e = get_max(r, FC_GATE, 1, &v[4])) < 0 || (e = get_max(r, FC_FLIPS, 3, &v[5])) < 0 ||
	    (e = get_max(r, FC_WLOW, 0xff, &v[6])) < 0 ||
	    (e = get_max(r, FC_LATCH, 0x1ffff, &v[7])) < 0 ||
	    (e = get_max(r, FC_STATUS, 0x1ff, &v[8])) < 0 ||
	    (e = get_max(r, FC_CR, MOD_BIN, &v[9])) < 0 ||
	    (e = get_max(r, FC_N, MOD_BIN, &v[10])) < 0 ||
	    (e = get_max(r, FC_PEND, MOD_BIN, &v[11])) < 0 ||
	    (e = get_max(r, FC_RUNNING, 1, &v[12])) < 0 ||
	    (e = vmt_fields_get_i64(r, FC_REF, &ref)) < 0 ||
	    (e = vmt_fields_get_i64(r, FC_NULL, &nul)) < 0 ||
	    (e = get_max(r, FC_ACC, UINT64_MAX >> 2, &v[13])) < 0 ||
	    (e = get_max(r, FC_DONE, UINT64_MAX >> 2, &v[14])) < 0 ||
	    (e = get_max(r, FC_HOLD, 0x1ffff, &v[15])) < 0 ||
	    (e = vmt_fields_get_i64(r, FC_SW, &sw)) < 0)
		return e;
	memset(c, 0, sizeof(*c));
	c->rw = (uint8_t)v[0];
	c->mode = (uint8_t)v[1];
	c->mode_bits = (uint8_t)v[2];
	c->bcd = (uint8_t)v[3];
	c->gate = (uint8_t)v[4];
	c->wflip = v[5] & 1;
	c->rflip = (v[5] >> 1) & 1;
	c->wlow = (uint8_t)v[6];
	c->latch = (uint16_t)v[7];
	c->latched = (v[7] >> 16) & 1;
	c->status = (uint8_t)v[8];
	c->st_latched = (v[8] >> 8) & 1;
	c->cr = (uint32_t)v[9];
	c->n = (uint32_t)v[10];
	c->pend = (uint32_t)v[11];
	c->running = (uint8_t)v[12];
	c->d_acc = v[13];
	c->d_done = v[14];
	c->ce_hold = (uint16_t)v[15];
	c->out_hold = (v[15] >> 16) & 1;
	c->loaded_at = VMT_NS_NEVER;
	/* A load is one clock ahead at most; a pending count one period. */
	if ((e = absolute(ref, C, 1, &c->c_ref)) < 0 ||
	    (e = absolute(sw, C, 2 * MOD_BIN, &c->c_sw)) < 0)
		return e;
	if (c->c_ref == NO_CLOCK || (c->pend && c->c_sw == NO_CLOCK))
		return -EBADMSG;
	if (nul == INT64_MIN || (nul < 0 && (uint64_t)-nul > C))
		c->c_null = 0;
	else if ((e = absolute(nul, C, 2 * MOD_BIN, &c->c_null)) < 0)
		return e;
	/* What the modes and the accounting rely on. */
	if (c->n > modulus(c) || c->cr > modulus(c) || c->pend > modulus(c) ||
	    c->mode != (c->mode_bits >= 6 ? c->mode_bits - 4 : c->mode_bits) ||
	    (c->pend && (!c->n || !periodic(c))) || (c->rw == 0 && (c->n || c->cr)) ||
	    c->d_done > elapsed(c, C < c->c_ref ? c->c_ref : C))
		return -EBADMSG;
	return 0;
}

int vmt_pit_restore(vmt_pit *pit, const vmt_fields_reader *r, uint32_t id)
{
	vmt_fields_reader g, sub;
	struct chan ch[3];
	uint64_t port61, shift, backlog, C;
	int e;

	if (!pit || !r)
		return -EINVAL;
	e = vmt_fields_get_group(r, id, &g);
	if (e < 0)
		return e;
	pthread_mutex_lock(&pit->lock);
	C = clock_at(vm_now(pit));
	for (int i = 0; i < 3 && e >= 0; i++) {
		e = vmt_fields_get_group(&g, F_CH0 + (uint32_t)i, &sub);
		if (e >= 0)
			e = restore_chan(&ch[i], &sub, C);
	}
	if (e >= 0)
		e = get_max(&g, F_PORT61, VMT_PIT_61_RW_MASK, &port61);
	if (e >= 0)
		e = get_max(&g, F_SHIFT, UINT32_MAX, &shift);
	if (e >= 0)
		e = get_max(&g, F_BACKLOG, VMT_TICKS_BACKLOG_MAX, &backlog);
	if (e >= 0 && (ch[2].gate != (port61 & VMT_PIT_61_GATE2) || (ch[0].n && periodic(&ch[0]) &&
			shift >= irq_period(pit, &ch[0]))))
		e = -EBADMSG;
	if (e >= 0) {
		reset_locked(pit);
		memcpy(pit->ch, ch, sizeof(ch));
		pit->port61 = (uint8_t)port61;
		pit->shift = shift;
		pit->backlog = backlog;
		rearm(pit);
	}
	pthread_mutex_unlock(&pit->lock);
	return e;
}

/* ---- inspect and unit --------------------------------------------------- */

int vmt_pit_inspect(vmt_pit *pit, FILE *out)
{
	struct {
		unsigned mode, rw, bcd, gate, out, nul;
		uint32_t count;
		uint16_t value;
	} c[3];
	struct vmt_dev_stats st;
	enum vmt_tick_policy pol;
	unsigned p61;
	vmt_ns now;
	uint64_t C;
	int r;

	if (!pit || !out)
		return -EINVAL;
	vmt_pit_get_stats(pit, &st);
	pthread_mutex_lock(&pit->lock);
	now = vm_now(pit);
	C = clock_at(now);
	for (int i = 0; i < 3; i++) {
		const struct chan *ch = &pit->ch[i];

		c[i].mode = ch->mode;
		c[i].rw = ch->rw;
		c[i].bcd = ch->bcd;
		c[i].gate = ch->gate;
		c[i].out = (unsigned)out_level(ch, C);
		c[i].nul = (unsigned)null_count(ch, C);
		c[i].count = ch->cr;
		c[i].value = read_value(ch, C);
	}
	p61 = read_port61(pit, now, C);
	pol = pit->policy;
	pthread_mutex_unlock(&pit->lock);
	r = fprintf(out, "{\"name\":\"%s\",\"ticks\":\"%s\",\"channels\":[", pit->name,
		    vmt_tick_policy_name(pol));
	for (int i = 0; i < 3 && r >= 0; i++)
		r = fprintf(out,
			    "%s{\"mode\":%u,\"rw\":%u,\"bcd\":%u,\"gate\":%u,\"out\":%u,"
			    "\"count\":%u,\"value\":%u,\"null_count\":%u}",
			    i ? "," : "", c[i].mode, c[i].rw, c[i].bcd, c[i].gate, c[i].out,
			    (unsigned)c[i].count, (unsigned)c[i].value, c[i].nul);
	if (r >= 0)
		r = fprintf(out,
			    "],\"port61\":%u,\"stats\":{\"ticks\":%llu,\"raised\":%llu,"
			    "\"coalesced\":%llu,\"lost\":%llu,\"backlog\":%llu,\"due\":%llu}}",
			    p61, (unsigned long long)st.ticks, (unsigned long long)st.raised,
			    (unsigned long long)st.coalesced, (unsigned long long)st.lost,
			    (unsigned long long)st.backlog, (unsigned long long)st.due);
	return r < 0 ? -EIO : 0;
}

static int unit_op(void *dev, enum vmti_unit_op op, vmt_fields_writer *w,
		   const vmt_fields_reader *r, FILE *out)
{
	switch (op) {
	case VMTI_UNIT_RESET:
		return vmt_pit_reset(dev);
	case VMTI_UNIT_SAVE:
		return vmt_pit_save(dev, w, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_RESTORE:
		return vmt_pit_restore(dev, r, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_INSPECT:
		return vmt_pit_inspect(dev, out);
	}
	return -EINVAL;
}

int vmt_pit_add_unit(vmt_pit *pit, vmt_units *units, vmt_unit **ret)
{
	if (!pit || !units)
		return -EINVAL;
	pit->unit = (struct vmti_dev_unit){ unit_op, pit, pit->name };
	return vmti_dev_unit_add(units, &pit->unit, ret);
}
