/* SPDX-License-Identifier: MIT */
/*
 * pit.c - the 8254 PIT on vmtime (see pit.h for how the pieces fit).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/source.h>

#include "pit.h"

/* Access modes, as in the RW field of the control word; WORD1 is internal. */
enum { RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4 };

/* What channel 0's IRQ timer was doing, as saved. */
enum { IRQ_NONE = 0, IRQ_ONESHOT = 1, IRQ_PERIODIC = 2 };

/* Snapshot field ids. */
enum {
	F_CHANNEL0 = 1, /* groups 1..3, one per channel */
	F_IRQ_KIND = 10,
	F_IRQ_NEXT = 11,
	F_IRQ_PERIOD = 12,
	F_BACKLOG = 13,

	FC_COUNT = 1,
	FC_LATCHED_COUNT = 2,
	FC_COUNT_LATCHED = 3,
	FC_STATUS_LATCHED = 4,
	FC_STATUS = 5,
	FC_READ_STATE = 6,
	FC_WRITE_STATE = 7,
	FC_WRITE_LATCH = 8,
	FC_RW_MODE = 9,
	FC_MODE = 10,
	FC_BCD = 11,
	FC_COUNTING = 12,
	FC_TERMINAL = 13,
	FC_PTIMER = 14,
};

struct pit_channel {
	vmt_ptimer *pt;
	uint32_t count; /* the programmed count, 1..0x10000 (0 is written as 0x10000) */
	uint16_t latched_count;
	uint8_t count_latched; /* RW_* of a pending latched read, 0 if none */
	uint8_t status_latched;
	uint8_t status;
	uint8_t read_state;
	uint8_t write_state;
	uint8_t write_latch;
	uint8_t rw_mode;
	uint8_t mode;
	uint8_t bcd;
	uint8_t counting; /* a count was loaded since the last control word */
	vmt_ns terminal;  /* VM time of terminal count (modes 0, 1, 4, 5) */
	vmt_ns loaded_at; /* diagnostic only, not saved */
};

struct pit {
	pthread_mutex_t lock;
	vmt_loop *loop;
	vmt_source *src;
	pit_irq_fn irq;
	void *irq_opaque;
	enum vmt_missed policy;
	struct pit_channel ch[3];
	vmt_timer *irq_timer;
	vmt_timer *retry_timer;
	uint64_t backlog;
	struct pit_stats st;
};

/*
 * The ptimer is the counter only: interrupts come from irq_timer, which has
 * a missed-tick policy and does not hold the ptimer's transaction lock while
 * it calls into KVM.
 */
static void counter_trigger(void *opaque)
{
	(void)opaque;
}

static vmt_ns counts_to_ns(uint64_t n)
{
	return (vmt_ns)(((unsigned __int128)n * VMT_NS_PER_SEC + PIT_FREQ_HZ / 2) / PIT_FREQ_HZ);
}

static uint64_t ns_to_counts(vmt_ns ns)
{
	return (uint64_t)((unsigned __int128)ns * PIT_FREQ_HZ / VMT_NS_PER_SEC);
}

static int periodic_mode(unsigned mode)
{
	return mode == 2 || mode == 3;
}

static vmt_ns vm_now(struct pit *pit)
{
	return vmt_now(pit->src, VMT_CLOCK_VM);
}

/* The counting element's value, before the mode-3 halving. */
static uint32_t raw_count(struct pit *pit, struct pit_channel *c)
{
	uint32_t limit = periodic_mode(c->mode) ? c->count : 0x10000;
	uint64_t v;
	vmt_ns ne, now;

	if (!c->counting)
		return c->count;
	vmt_ptimer_transaction_begin(c->pt);
	v = vmt_ptimer_get_count(c->pt);
	ne = vmt_ptimer_next_event(c->pt);
	vmt_ptimer_transaction_commit(c->pt);
	now = vm_now(pit);
	/*
	 * A ptimer whose reload is overdue (the loop thread is late running
	 * it) reads 0 until it runs; the 8254 never stops counting, so the
	 * value is taken from the grid instead.
	 */
	if (ne != VMT_NS_NEVER && now >= ne)
		v = limit - ns_to_counts(now - ne) % limit;
	if (v == 0 && periodic_mode(c->mode))
		v = c->count;
	return (uint32_t)v;
}

/* What the guest reads: mode 3 counts down by two, twice per period. */
static uint16_t read_count(struct pit *pit, struct pit_channel *c)
{
	uint32_t v = raw_count(pit, c);

	if (c->counting && c->mode == 3) {
		uint32_t d = c->count - v;

		v = c->count - (2 * d) % c->count;
	}
	return (uint16_t)v;
}

static int out_level(struct pit *pit, struct pit_channel *c)
{
	vmt_ns now = vm_now(pit);
	uint32_t v;

	if (!c->counting)
		return c->mode != 0;
	switch (c->mode) {
	case 0:
	case 1:
		return now >= c->terminal;
	case 2:
		return raw_count(pit, c) != 1;
	case 3:
		v = raw_count(pit, c);
		return c->count - v < (c->count + 1) / 2;
	default:
		/* Modes 4 and 5 pulse low for one count at terminal count. */
		return !(now >= c->terminal && now < c->terminal + counts_to_ns(1));
	}
}

static void drain_locked(struct pit *pit)
{
	int r;

	if (pit->backlog == 0)
		return;
	r = pit->irq(pit->irq_opaque);
	if (r > 0) {
		pit->st.raised++;
		pit->backlog--;
	} else {
		pit->st.retries++;
	}
	if (pit->backlog > 0 && vmt_timer_pending(pit->retry_timer) != 1)
		vmt_timer_arm(pit->retry_timer, vmt_ns_add(vm_now(pit), PIT_RETRY_NS));
}

/*
 * A vmt_timer period is whole nanoseconds, 1193 counts are 999847.47 ns: left
 * alone, the interrupts would drift from the counter by half a tick every
 * quarter of an hour.  The ptimer keeps the exact grid (its period has a
 * 2^-32 ns fraction), so each on-time tick re-anchors the next deadline on
 * it; a timer running behind is left to its missed-tick policy.
 */
static void irq_realign_locked(struct pit *pit, vmt_timer *t)
{
	struct pit_channel *c = &pit->ch[0];
	vmt_ns dl = vmt_timer_deadline(t), period = vmt_timer_period(t), now = vm_now(pit), ne;

	if (period == 0 || !periodic_mode(c->mode) || dl <= now)
		return;
	vmt_ptimer_transaction_begin(c->pt);
	ne = vmt_ptimer_next_event(c->pt);
	vmt_ptimer_transaction_commit(c->pt);
	if (ne == VMT_NS_NEVER)
		return;
	/* The ptimer's own reload for this tick may not have run yet. */
	if (ne <= now)
		ne += counts_to_ns(c->count);
	if (ne != dl && (ne > dl ? ne - dl : dl - ne) < period / 2)
		vmt_timer_arm_periodic(t, ne, period, pit->policy);
}

static void irq_tick(vmt_timer *t, uint64_t expirations, void *userdata)
{
	struct pit *pit = userdata;
	int r;

	pthread_mutex_lock(&pit->lock);
	irq_realign_locked(pit, t);
	pit->st.expirations += expirations;
	if (pit->policy == VMT_MISSED_CATCHUP) {
		pit->backlog += expirations;
		drain_locked(pit);
	} else {
		/* One edge stands for every tick this call covers; the rest are lost. */
		r = pit->irq(pit->irq_opaque);
		if (r > 0) {
			pit->st.raised++;
			pit->st.lost += expirations - 1;
		} else {
			pit->st.lost += expirations;
		}
	}
	pthread_mutex_unlock(&pit->lock);
}

static void irq_retry(vmt_timer *t, uint64_t expirations, void *userdata)
{
	struct pit *pit = userdata;

	(void)t;
	(void)expirations;
	pthread_mutex_lock(&pit->lock);
	drain_locked(pit);
	pthread_mutex_unlock(&pit->lock);
}

static void drop_backlog_locked(struct pit *pit)
{
	pit->st.lost += pit->backlog;
	pit->backlog = 0;
	vmt_timer_cancel(pit->retry_timer);
}

/* Channel 0's interrupt follows the ptimer's grid: its next zero crossing. */
static void irq_arm_locked(struct pit *pit)
{
	struct pit_channel *c = &pit->ch[0];
	vmt_ns ne;

	if (!c->counting) {
		vmt_timer_cancel(pit->irq_timer);
		return;
	}
	ne = vmt_ptimer_next_event(c->pt);
	switch (c->mode) {
	case 2:
	case 3:
		vmt_timer_arm_periodic(pit->irq_timer, ne, counts_to_ns(c->count), pit->policy);
		break;
	case 0:
	case 4:
		vmt_timer_arm(pit->irq_timer, c->terminal);
		break;
	default:
		vmt_timer_cancel(pit->irq_timer);
		break;
	}
}

static void load_count(struct pit *pit, int i, uint32_t val)
{
	struct pit_channel *c = &pit->ch[i];

	c->count = val ? val : 0x10000;
	c->counting = 1;
	c->loaded_at = vm_now(pit);
	vmt_ptimer_transaction_begin(c->pt);
	if (periodic_mode(c->mode)) {
		vmt_ptimer_set_limit(c->pt, c->count, 1);
	} else {
		/* Counts down once, then wraps through 0xffff like the chip. */
		vmt_ptimer_set_count(c->pt, c->count);
		vmt_ptimer_set_limit(c->pt, 0x10000, 0);
	}
	vmt_ptimer_run(c->pt, 0);
	vmt_ptimer_transaction_commit(c->pt);
	c->terminal = periodic_mode(c->mode) ? VMT_NS_NEVER : vmt_ptimer_next_event(c->pt);
	if (i == 0)
		irq_arm_locked(pit);
}

static void stop_channel(struct pit *pit, int i)
{
	struct pit_channel *c = &pit->ch[i];

	c->counting = 0;
	c->terminal = VMT_NS_NEVER;
	vmt_ptimer_transaction_begin(c->pt);
	vmt_ptimer_stop(c->pt);
	vmt_ptimer_transaction_commit(c->pt);
	if (i == 0) {
		vmt_timer_cancel(pit->irq_timer);
		drop_backlog_locked(pit);
	}
}

static void latch_status(struct pit *pit, struct pit_channel *c)
{
	if (c->status_latched)
		return;
	c->status = (uint8_t)(out_level(pit, c) << 7 | (!c->counting) << 6 | c->rw_mode << 4 |
			      c->mode << 1 | c->bcd);
	c->status_latched = 1;
}

static void latch_count(struct pit *pit, struct pit_channel *c)
{
	if (c->count_latched)
		return;
	c->latched_count = read_count(pit, c);
	c->count_latched = c->rw_mode;
}

static void write_control(struct pit *pit, uint8_t val)
{
	unsigned sc = val >> 6, rw = (val >> 4) & 3, mode = (val >> 1) & 7;
	struct pit_channel *c;

	if (sc == 3) {
		/* Read-back: bits 1-3 select channels, bits 5/4 (active low) count/status. */
		for (int i = 0; i < 3; i++) {
			if (!(val & (2u << i)))
				continue;
			c = &pit->ch[i];
			if (!(val & 0x20))
				latch_count(pit, c);
			if (!(val & 0x10))
				latch_status(pit, c);
		}
		return;
	}
	c = &pit->ch[sc];
	if (rw == RW_LATCH) {
		latch_count(pit, c);
		return;
	}
	/* Modes 6 and 7 are aliases of 2 and 3. */
	if (mode >= 6)
		mode -= 4;
	c->rw_mode = (uint8_t)rw;
	c->read_state = (uint8_t)rw;
	c->write_state = (uint8_t)rw;
	c->mode = (uint8_t)mode;
	c->bcd = val & 1;
	c->count_latched = 0;
	c->status_latched = 0;
	stop_channel(pit, (int)sc);
}

static void write_data(struct pit *pit, int i, uint8_t val)
{
	struct pit_channel *c = &pit->ch[i];

	switch (c->write_state) {
	case RW_LSB:
		load_count(pit, i, val);
		break;
	case RW_MSB:
		load_count(pit, i, (uint32_t)val << 8);
		break;
	case RW_WORD0:
		c->write_latch = val;
		c->write_state = RW_WORD1;
		break;
	case RW_WORD1:
		load_count(pit, i, c->write_latch | (uint32_t)val << 8);
		c->write_state = RW_WORD0;
		break;
	default:
		/* No control word written yet: the chip ignores data. */
		break;
	}
}

static uint8_t read_data(struct pit *pit, int i)
{
	struct pit_channel *c = &pit->ch[i];
	uint16_t cnt;
	uint8_t v;

	if (c->status_latched) {
		c->status_latched = 0;
		return c->status;
	}
	if (c->count_latched) {
		switch (c->count_latched) {
		case RW_MSB:
			v = c->latched_count >> 8;
			c->count_latched = 0;
			break;
		case RW_WORD0:
			v = c->latched_count & 0xff;
			c->count_latched = RW_MSB;
			break;
		default:
			v = c->latched_count & 0xff;
			c->count_latched = 0;
			break;
		}
		return v;
	}
	cnt = read_count(pit, c);
	switch (c->read_state) {
	case RW_MSB:
		return cnt >> 8;
	case RW_WORD0:
		c->read_state = RW_WORD1;
		return cnt & 0xff;
	case RW_WORD1:
		c->read_state = RW_WORD0;
		return cnt >> 8;
	default:
		return cnt & 0xff;
	}
}

int pit_write(struct pit *pit, uint16_t port, uint8_t val)
{
	if (!pit || port < PIT_PORT_BASE || port > PIT_PORT_CONTROL)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	if (port == PIT_PORT_CONTROL)
		write_control(pit, val);
	else
		write_data(pit, port - PIT_PORT_BASE, val);
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

int pit_read(struct pit *pit, uint16_t port, uint8_t *val)
{
	if (!pit || !val || port < PIT_PORT_BASE || port > PIT_PORT_CONTROL)
		return -EINVAL;
	if (port == PIT_PORT_CONTROL) {
		*val = 0xff;
		return 0;
	}
	pthread_mutex_lock(&pit->lock);
	*val = read_data(pit, port - PIT_PORT_BASE);
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

static int policy_valid(enum vmt_missed p)
{
	return p == VMT_MISSED_COALESCE || p == VMT_MISSED_CATCHUP || p == VMT_MISSED_DELAY;
}

int pit_set_policy(struct pit *pit, enum vmt_missed policy)
{
	if (!pit || !policy_valid(policy))
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	if (pit->policy != policy) {
		pit->policy = policy;
		if (policy != VMT_MISSED_CATCHUP)
			drop_backlog_locked(pit);
		/* Re-arming on the same deadline and period keeps the grid. */
		if (vmt_timer_period(pit->irq_timer) != 0)
			vmt_timer_arm_periodic(pit->irq_timer, vmt_timer_deadline(pit->irq_timer),
					       vmt_timer_period(pit->irq_timer), policy);
	}
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

int pit_get_stats(struct pit *pit, struct pit_stats *st)
{
	if (!pit || !st)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	*st = pit->st;
	st->backlog = pit->backlog;
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

int pit_loaded_at(struct pit *pit, int ch, vmt_ns *t)
{
	if (!pit || !t || ch < 0 || ch > 2)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	*t = pit->ch[ch].loaded_at;
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

long long pit_ticks_owed(struct pit *pit)
{
	vmt_ns dl, period, now;
	long long owed;

	if (!pit)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	owed = (long long)pit->backlog;
	dl = vmt_timer_deadline(pit->irq_timer);
	period = vmt_timer_period(pit->irq_timer);
	now = vm_now(pit);
	if (dl <= now)
		owed += period ? (long long)((now - dl) / period) + 1 : 1;
	pthread_mutex_unlock(&pit->lock);
	return owed;
}

int pit_irq_idle(struct pit *pit)
{
	int idle;

	if (!pit)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	idle = pit->backlog == 0 && vmt_timer_deadline(pit->irq_timer) > vm_now(pit);
	pthread_mutex_unlock(&pit->lock);
	return idle;
}

static void reset_locked(struct pit *pit)
{
	for (int i = 0; i < 3; i++) {
		struct pit_channel *c = &pit->ch[i];

		stop_channel(pit, i);
		vmt_ptimer_transaction_begin(c->pt);
		vmt_ptimer_set_count(c->pt, 0);
		vmt_ptimer_set_limit(c->pt, 0, 0);
		vmt_ptimer_transaction_commit(c->pt);
		c->count = 0x10000;
		c->latched_count = 0;
		c->count_latched = 0;
		c->status_latched = 0;
		c->status = 0;
		c->read_state = 0;
		c->write_state = 0;
		c->write_latch = 0;
		c->rw_mode = 0;
		c->mode = 0;
		c->bcd = 0;
		c->loaded_at = VMT_NS_NEVER;
	}
	pit->backlog = 0;
	vmt_timer_cancel(pit->retry_timer);
}

int pit_reset(struct pit *pit)
{
	if (!pit)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	reset_locked(pit);
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

int pit_new(const struct pit_config *cfg, struct pit **ret)
{
	struct pit *pit;
	int r;

	if (!cfg || !ret || !cfg->loop || !cfg->irq || !policy_valid(cfg->policy))
		return -EINVAL;
	pit = calloc(1, sizeof(*pit));
	if (!pit)
		return -ENOMEM;
	pthread_mutex_init(&pit->lock, NULL);
	pit->loop = cfg->loop;
	pit->src = vmt_loop_source(cfg->loop);
	pit->irq = cfg->irq;
	pit->irq_opaque = cfg->irq_opaque;
	pit->policy = cfg->policy;
	/*
	 * The 8254 reads N..1 in mode 2 (never 0) and N at the instant it is
	 * loaded: QEMU ptimer's rounding down would read one less.
	 */
	for (int i = 0; i < 3; i++) {
		r = vmt_ptimer_new(cfg->loop, VMT_CLOCK_VM, counter_trigger, pit,
				   VMT_PTIMER_POLICY_NO_COUNTER_ROUND_DOWN |
					   VMT_PTIMER_POLICY_TRIGGER_ONLY_ON_DECREMENT,
				   &pit->ch[i].pt);
		if (r < 0)
			goto fail;
		vmt_ptimer_transaction_begin(pit->ch[i].pt);
		vmt_ptimer_set_freq(pit->ch[i].pt, PIT_FREQ_HZ);
		vmt_ptimer_transaction_commit(pit->ch[i].pt);
	}
	r = vmt_timer_new(cfg->loop, VMT_CLOCK_VM, irq_tick, pit, &pit->irq_timer);
	if (r < 0)
		goto fail;
	vmt_timer_set_name(pit->irq_timer, "pit-irq0");
	r = vmt_timer_new(cfg->loop, VMT_CLOCK_VM, irq_retry, pit, &pit->retry_timer);
	if (r < 0)
		goto fail;
	vmt_timer_set_name(pit->retry_timer, "pit-irq0-retry");
	reset_locked(pit);
	*ret = pit;
	return 0;
fail:
	pit_free(pit);
	return r;
}

struct pit *pit_free(struct pit *pit)
{
	if (!pit)
		return NULL;
	vmt_timer_free(pit->irq_timer);
	vmt_timer_free(pit->retry_timer);
	for (int i = 0; i < 3; i++)
		vmt_ptimer_free(pit->ch[i].pt);
	pthread_mutex_destroy(&pit->lock);
	free(pit);
	return NULL;
}

/* Deadlines travel relative to the VM clock; a late one (negative) stays late. */
static int64_t rel_deadline(vmt_ns deadline, vmt_ns now)
{
	if (deadline == VMT_NS_NEVER)
		return INT64_MAX;
	return deadline >= now ? (int64_t)(deadline - now) : -(int64_t)(now - deadline);
}

static vmt_ns abs_deadline(int64_t rel, vmt_ns now)
{
	if (rel == INT64_MAX)
		return VMT_NS_NEVER;
	if (rel >= 0)
		return vmt_ns_add(now, (vmt_ns)rel);
	return vmt_ns_sub(now, (vmt_ns)-rel);
}

static int save_channel(struct pit_channel *c, vmt_fields_writer *w, vmt_ns now)
{
	int r;

	vmt_fields_put_u64(w, FC_COUNT, c->count);
	vmt_fields_put_u64(w, FC_LATCHED_COUNT, c->latched_count);
	vmt_fields_put_u64(w, FC_COUNT_LATCHED, c->count_latched);
	vmt_fields_put_u64(w, FC_STATUS_LATCHED, c->status_latched);
	vmt_fields_put_u64(w, FC_STATUS, c->status);
	vmt_fields_put_u64(w, FC_READ_STATE, c->read_state);
	vmt_fields_put_u64(w, FC_WRITE_STATE, c->write_state);
	vmt_fields_put_u64(w, FC_WRITE_LATCH, c->write_latch);
	vmt_fields_put_u64(w, FC_RW_MODE, c->rw_mode);
	vmt_fields_put_u64(w, FC_MODE, c->mode);
	vmt_fields_put_u64(w, FC_BCD, c->bcd);
	vmt_fields_put_u64(w, FC_COUNTING, c->counting);
	vmt_fields_put_i64(w, FC_TERMINAL, rel_deadline(c->terminal, now));
	r = vmt_ptimer_save(c->pt, w, FC_PTIMER);
	return r < 0 ? r : vmt_fields_writer_error(w);
}

int pit_save(struct pit *pit, vmt_fields_writer *w)
{
	vmt_ns now, dl;
	int r = 0, kind;

	if (!pit || !w)
		return -EINVAL;
	pthread_mutex_lock(&pit->lock);
	now = vm_now(pit);
	for (int i = 0; i < 3 && r >= 0; i++) {
		r = vmt_fields_begin_group(w, F_CHANNEL0 + i);
		if (r >= 0)
			r = save_channel(&pit->ch[i], w, now);
		if (r >= 0)
			r = vmt_fields_end_group(w);
	}
	kind = vmt_timer_pending(pit->irq_timer) != 1 ? IRQ_NONE
	       : vmt_timer_period(pit->irq_timer)     ? IRQ_PERIODIC
						      : IRQ_ONESHOT;
	dl = kind == IRQ_NONE ? VMT_NS_NEVER : vmt_timer_deadline(pit->irq_timer);
	vmt_fields_put_u64(w, F_IRQ_KIND, (uint64_t)kind);
	vmt_fields_put_i64(w, F_IRQ_NEXT, rel_deadline(dl, now));
	vmt_fields_put_u64(w, F_IRQ_PERIOD, vmt_timer_period(pit->irq_timer));
	vmt_fields_put_u64(w, F_BACKLOG, pit->backlog);
	pthread_mutex_unlock(&pit->lock);
	if (r < 0)
		return r;
	return vmt_fields_writer_error(w);
}

static int get_small(const vmt_fields_reader *r, uint32_t id, uint64_t max, uint8_t *out)
{
	uint64_t v;
	int ret = vmt_fields_get_u64(r, id, &v);

	if (ret < 0)
		return ret;
	if (v > max)
		return -EBADMSG;
	*out = (uint8_t)v;
	return 0;
}

static int restore_channel(struct pit_channel *c, const vmt_fields_reader *r, vmt_ns now)
{
	uint64_t count, latched;
	int64_t term;
	int ret;

	if ((ret = vmt_fields_get_u64(r, FC_COUNT, &count)) < 0 ||
	    (ret = vmt_fields_get_u64(r, FC_LATCHED_COUNT, &latched)) < 0 ||
	    (ret = get_small(r, FC_COUNT_LATCHED, RW_WORD0, &c->count_latched)) < 0 ||
	    (ret = get_small(r, FC_STATUS_LATCHED, 1, &c->status_latched)) < 0 ||
	    (ret = get_small(r, FC_STATUS, 0xff, &c->status)) < 0 ||
	    (ret = get_small(r, FC_READ_STATE, RW_WORD1, &c->read_state)) < 0 ||
	    (ret = get_small(r, FC_WRITE_STATE, RW_WORD1, &c->write_state)) < 0 ||
	    (ret = get_small(r, FC_WRITE_LATCH, 0xff, &c->write_latch)) < 0 ||
	    (ret = get_small(r, FC_RW_MODE, RW_WORD0, &c->rw_mode)) < 0 ||
	    (ret = get_small(r, FC_MODE, 5, &c->mode)) < 0 ||
	    (ret = get_small(r, FC_BCD, 1, &c->bcd)) < 0 ||
	    (ret = get_small(r, FC_COUNTING, 1, &c->counting)) < 0 ||
	    (ret = vmt_fields_get_i64(r, FC_TERMINAL, &term)) < 0)
		return ret;
	if (count < 1 || count > 0x10000 || latched > 0xffff)
		return -EBADMSG;
	c->count = (uint32_t)count;
	c->latched_count = (uint16_t)latched;
	c->terminal = abs_deadline(term, now);
	return vmt_ptimer_restore(c->pt, r, FC_PTIMER);
}

int pit_restore(struct pit *pit, vmt_fields_reader *r, uint32_t version)
{
	vmt_fields_reader sub;
	uint64_t kind, period, backlog;
	int64_t next;
	vmt_ns now;
	int ret = 0;

	if (!pit || !r)
		return -EINVAL;
	if (version != PIT_SAVE_VERSION)
		return -EPROTONOSUPPORT;
	pthread_mutex_lock(&pit->lock);
	reset_locked(pit);
	now = vm_now(pit);
	for (int i = 0; i < 3 && ret >= 0; i++) {
		ret = vmt_fields_get_group(r, F_CHANNEL0 + i, &sub);
		if (ret >= 0)
			ret = restore_channel(&pit->ch[i], &sub, now);
	}
	if (ret >= 0 && ((ret = vmt_fields_get_u64(r, F_IRQ_KIND, &kind)) < 0 ||
			 (ret = vmt_fields_get_i64(r, F_IRQ_NEXT, &next)) < 0 ||
			 (ret = vmt_fields_get_u64(r, F_IRQ_PERIOD, &period)) < 0 ||
			 (ret = vmt_fields_get_u64(r, F_BACKLOG, &backlog)) < 0))
		goto out;
	if (ret < 0)
		goto out;
	if (kind > IRQ_PERIODIC || (kind == IRQ_PERIODIC && period == 0) ||
	    (kind != IRQ_NONE && next == INT64_MAX)) {
		ret = -EBADMSG;
		goto out;
	}
	if (kind == IRQ_PERIODIC)
		vmt_timer_arm_periodic(pit->irq_timer, abs_deadline(next, now), period,
				       pit->policy);
	else if (kind == IRQ_ONESHOT)
		vmt_timer_arm(pit->irq_timer, abs_deadline(next, now));
	pit->backlog = backlog;
	if (backlog > 0)
		vmt_timer_arm(pit->retry_timer, vmt_ns_add(now, PIT_RETRY_NS));
out:
	if (ret < 0)
		reset_locked(pit);
	pthread_mutex_unlock(&pit->lock);
	return ret;
}
