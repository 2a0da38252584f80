/* SPDX-License-Identifier: MIT */
/*
 * dev-lapic.c - the local APIC timer on the VM clock.
 *
 * The counter is not decremented anywhere: a run is (start, base), and the
 * ticks elapsed at VM time t are base + floor((t - start) * bus_hz /
 * (divide * 10^9)).  Expiry k of a run is when that reaches k * initial.
 * A divide change folds the elapsed ticks into base and restarts the clock
 * part, so the count goes on from where it was at the new rate.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmtime/lapic.h>
#include <vmtime/source.h>
#include <vmtime/timer.h>

#include "dev-irq.h"

__extension__ typedef unsigned __int128 u128;

#define NS_SEC UINT64_C(1000000000)
#define FIELD_STATE_VERSION 1
#define LVT_WRITABLE (VMT_LAPIC_LVT_VECTOR | VMT_LAPIC_LVT_MASKED | VMT_LAPIC_LVT_MODE)
#define DCR_WRITABLE 0xbu

enum {
	F_VERSION = 1,
	F_LVT = 2,
	F_INITIAL = 3,
	F_DCR = 4,
	F_ARMED = 5,
	F_BASE = 6,
	F_ELAPSED = 7,	/* VM ns since start */
	F_DONE = 8,
	F_DEADLINE = 9,
	F_TSC_OFFSET = 10,
	F_BACKLOG = 11,
};

struct vmt_lapic {
	pthread_mutex_t lock;
	vmt_source *src;
	vmt_timer *timer;
	struct vmti_irq irq;
	struct vmti_dev_unit unit;
	char name[VMT_DEV_NAME_MAX + 1];
	enum vmt_tick_policy ticks;
	vmt_ns min_period;
	uint64_t bus_hz, tsc_hz, tsc_offset;

	atomic_uint lvt;	/* read lock-free by vmt_lapic_vector() */
	uint32_t initial, dcr;
	int armed;		/* a one-shot or periodic run counts */
	vmt_ns start;		/* VM time the clock part of the run counts from */
	uint64_t base;		/* ticks elapsed before @start */
	uint64_t done;		/* expiries of the run accounted */
	uint64_t deadline;	/* TSC-deadline, 0 disarmed */
	uint64_t backlog, inflight;
	vmt_ns next_raise;
	struct vmt_dev_stats stats;
};

static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	u128 q = (u128)a * b / c;

	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

static uint64_t muldiv_up(uint64_t a, uint64_t b, uint64_t c)
{
	u128 q = ((u128)a * b + c - 1) / c;

	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

static unsigned mode(const struct vmt_lapic *l)
{
	unsigned m = (atomic_load(&l->lvt) & VMT_LAPIC_LVT_MODE) >> VMT_LAPIC_LVT_MODE_SHIFT;

	return m == 3 ? VMT_LAPIC_MODE_ONESHOT : m;	/* reserved: as one-shot */
}

/* SDM "Divide Configuration Register": bits 3,1,0; 111 is divide by 1. */
static uint64_t divide(const struct vmt_lapic *l)
{
	unsigned v = (l->dcr & 3) | (l->dcr & 8) >> 1;

	return v == 7 ? 1 : UINT64_C(2) << v;
}

static vmt_ns vm_now(const struct vmt_lapic *l)
{
	return vmt_now(l->src, VMT_CLOCK_VM);
}

static uint64_t tsc_at(const struct vmt_lapic *l, vmt_ns vm)
{
	return l->tsc_offset + muldiv(vm, l->tsc_hz, NS_SEC);
}

/* The first VM time at which the guest TSC reads @tsc. */
static vmt_ns vm_of_tsc(const struct vmt_lapic *l, uint64_t tsc)
{
	uint64_t d = tsc - l->tsc_offset;

	/* A deadline "before" the offset (as a wrapped difference) is past. */
	if (d > UINT64_MAX / 2)
		return 0;
	return muldiv_up(d, NS_SEC, l->tsc_hz);
}

static uint64_t ticks_at(const struct vmt_lapic *l, vmt_ns vm)
{
	vmt_ns dt = vm > l->start ? vm - l->start : 0;

	return l->base + muldiv(dt, l->bus_hz, divide(l) * NS_SEC);
}

/* The VM time at which the run's elapsed ticks reach @t. */
static vmt_ns vm_of_ticks(const struct vmt_lapic *l, uint64_t t)
{
	if (t <= l->base)
		return l->start;
	return vmt_ns_add(l->start, muldiv_up(t - l->base, divide(l) * NS_SEC, l->bus_hz));
}

static uint32_t current_count(const struct vmt_lapic *l, vmt_ns vm)
{
	uint64_t t;

	if (!l->armed || !l->initial)
		return 0;
	t = ticks_at(l, vm);
	if (mode(l) == VMT_LAPIC_MODE_PERIODIC)
		return (uint32_t)(l->initial - t % l->initial);
	/* One-shot: what is left of the period under way (a run made periodic first counts on). */
	t -= l->done * l->initial;
	return t >= l->initial ? 0 : (uint32_t)(l->initial - t);
}

static void start_run(struct vmt_lapic *l, vmt_ns vm)
{
	l->start = vm;
	l->base = 0;
	l->done = 0;
}

static void backlog_add(struct vmt_lapic *l, uint64_t n)
{
	uint64_t room = VMT_TICKS_BACKLOG_MAX - l->backlog;

	if (l->ticks != VMT_TICKS_REINJECT) {
		l->stats.lost += n;
		return;
	}
	l->backlog += n < room ? n : room;
	l->stats.lost += n < room ? 0 : n - room;
}

static void raise_one(struct vmt_lapic *l, vmt_ns vm)
{
	l->inflight++;
	l->next_raise = vmt_ns_add(vm, l->min_period);
	vmti_irq_pulse(&l->irq, 0, 1);
}

static void irq_done(void *dev, unsigned line, uint32_t tag, int taken)
{
	struct vmt_lapic *l = dev;

	(void)line;
	(void)tag;
	l->inflight--;
	if (taken) {
		l->stats.raised++;
		return;
	}
	if (!l->irq.fn) {
		/* Nobody to deliver to: dropped, not worth retrying. */
		l->stats.lost++;
		return;
	}
	l->stats.coalesced++;
	backlog_add(l, 1);
}

/* @n expirations happened; hand them to the policy. */
static void expire(struct vmt_lapic *l, uint64_t n, vmt_ns vm)
{
	l->stats.ticks += n;
	if (atomic_load(&l->lvt) & VMT_LAPIC_LVT_MASKED) {
		l->stats.lost += n;	/* a masked LVT delivers nothing */
		return;
	}
	raise_one(l, vm);
	if (n == 1)
		return;
	backlog_add(l, n - 1);
	if (l->ticks == VMT_TICKS_DELAY && mode(l) == VMT_LAPIC_MODE_PERIODIC)
		start_run(l, vm);	/* the next period counts from now */
}

/* Account the expirations up to now.  @retry: a timer fire may drain one backlog tick. */
static void advance(struct vmt_lapic *l, int retry)
{
	vmt_ns vm = vm_now(l);
	uint64_t k;
	int fired = 0;

	if (mode(l) == VMT_LAPIC_MODE_TSC_DEADLINE) {
		if (l->deadline && tsc_at(l, vm) >= l->deadline) {
			l->deadline = 0;	/* SDM: the MSR clears when it fires */
			expire(l, 1, vm);
			fired = 1;
		}
	} else if (l->armed && l->initial) {
		k = ticks_at(l, vm) / l->initial;
		if (k > l->done) {
			uint64_t n = mode(l) == VMT_LAPIC_MODE_PERIODIC ? k - l->done : 1;

			l->done = k;
			if (mode(l) != VMT_LAPIC_MODE_PERIODIC)
				l->armed = 0;
			expire(l, n, vm);
			fired = 1;
		}
	}
	if (retry && !fired && l->backlog && !(atomic_load(&l->lvt) & VMT_LAPIC_LVT_MASKED) &&
	    vm >= l->next_raise) {
		l->backlog--;
		raise_one(l, vm);
	}
}

static vmt_ns period_ns(const struct vmt_lapic *l)
{
	if (mode(l) != VMT_LAPIC_MODE_PERIODIC || !l->armed)
		return 0;
	return muldiv((uint64_t)l->initial * divide(l), NS_SEC, l->bus_hz);
}

static void rearm(struct vmt_lapic *l)
{
	vmt_ns next = VMT_NS_NEVER, vm = vm_now(l), retry;

	/* Masked expiries are lost anyway: account them when someone looks. */
	if (atomic_load(&l->lvt) & VMT_LAPIC_LVT_MASKED) {
		vmt_timer_cancel(l->timer);
		return;
	}
	if (mode(l) == VMT_LAPIC_MODE_TSC_DEADLINE) {
		if (l->deadline)
			next = vm_of_tsc(l, l->deadline);
	} else if (l->armed && l->initial) {
		next = vm_of_ticks(l, (l->done + 1) * (uint64_t)l->initial);
	}
	if (l->backlog && l->ticks == VMT_TICKS_REINJECT) {
		/* Retry the backlog twice a period (or per one-shot, at the minimum). */
		retry = period_ns(l) / 2 > l->min_period ? period_ns(l) / 2 : l->min_period;
		retry = vmt_ns_add(vm, retry);
		next = retry < next ? retry : next;
	}
	if (next == VMT_NS_NEVER) {
		vmt_timer_cancel(l->timer);
		return;
	}
	vmt_timer_arm(l->timer, next > l->next_raise ? next : l->next_raise);
}

static void timer_fn(vmt_timer *t, uint64_t expirations, void *userdata)
{
	struct vmt_lapic *l = userdata;

	(void)t;
	(void)expirations;
	pthread_mutex_lock(&l->lock);
	advance(l, 1);
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);
}

static int reg_ok(uint64_t offset)
{
	return offset == VMT_LAPIC_LVT_TIMER || offset == VMT_LAPIC_INITIAL_COUNT ||
	       offset == VMT_LAPIC_CURRENT_COUNT || offset == VMT_LAPIC_DIVIDE_CONFIG;
}

int vmt_lapic_read(vmt_lapic *l, uint64_t offset, unsigned size, uint64_t *val)
{
	uint32_t v = 0;

	if (!l || !val || size != 4)
		return -EINVAL;
	if (!reg_ok(offset))
		return -ENOENT;
	pthread_mutex_lock(&l->lock);
	advance(l, 0);
	switch (offset) {
	case VMT_LAPIC_LVT_TIMER:
		v = atomic_load(&l->lvt);
		break;
	case VMT_LAPIC_INITIAL_COUNT:
		v = l->initial;
		break;
	case VMT_LAPIC_CURRENT_COUNT:
		v = mode(l) == VMT_LAPIC_MODE_TSC_DEADLINE ? 0 : current_count(l, vm_now(l));
		break;
	case VMT_LAPIC_DIVIDE_CONFIG:
		v = l->dcr;
		break;
	}
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);
	*val = v;
	return 0;
}

static void write_lvt(struct vmt_lapic *l, uint32_t v)
{
	unsigned old = mode(l);

	atomic_store(&l->lvt, v & LVT_WRITABLE);
	/*
	 * Entering or leaving TSC-deadline mode disarms the timer (SDM "TSC-
	 * Deadline Mode"); one-shot <-> periodic keeps the run, which then
	 * reloads or stops at its next expiry, as KVM does.
	 */
	if ((old == VMT_LAPIC_MODE_TSC_DEADLINE) != (mode(l) == VMT_LAPIC_MODE_TSC_DEADLINE)) {
		l->armed = 0;
		l->initial = 0;
		l->deadline = 0;
	}
}

int vmt_lapic_write(vmt_lapic *l, uint64_t offset, unsigned size, uint64_t val)
{
	uint32_t v = (uint32_t)val;
	vmt_ns vm;

	if (!l || size != 4)
		return -EINVAL;
	if (!reg_ok(offset))
		return -ENOENT;
	pthread_mutex_lock(&l->lock);
	advance(l, 0);
	vm = vm_now(l);
	switch (offset) {
	case VMT_LAPIC_LVT_TIMER:
		write_lvt(l, v);
		break;
	case VMT_LAPIC_INITIAL_COUNT:
		/* Ignored in TSC-deadline mode; 0 stops the timer. */
		if (mode(l) == VMT_LAPIC_MODE_TSC_DEADLINE)
			break;
		l->initial = v;
		l->armed = v != 0;
		start_run(l, vm);
		break;
	case VMT_LAPIC_DIVIDE_CONFIG:
		if (l->armed) {
			l->base = ticks_at(l, vm);
			l->start = vm;
		}
		l->dcr = v & DCR_WRITABLE;
		break;
	}
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);
	return 0;
}

int vmt_lapic_read_msr(vmt_lapic *l, uint32_t msr, uint64_t *val)
{
	if (!l || !val)
		return -EINVAL;
	if (msr != VMT_LAPIC_MSR_TSC_DEADLINE)
		return -ENOENT;
	pthread_mutex_lock(&l->lock);
	advance(l, 0);
	*val = mode(l) == VMT_LAPIC_MODE_TSC_DEADLINE ? l->deadline : 0;
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);
	return 0;
}

int vmt_lapic_write_msr(vmt_lapic *l, uint32_t msr, uint64_t val)
{
	if (!l)
		return -EINVAL;
	if (msr != VMT_LAPIC_MSR_TSC_DEADLINE)
		return -ENOENT;
	pthread_mutex_lock(&l->lock);
	advance(l, 0);
	if (mode(l) == VMT_LAPIC_MODE_TSC_DEADLINE) {
		l->deadline = val;
		advance(l, 0);	/* a deadline already passed fires now */
	}
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);
	return 0;
}

int vmt_lapic_vector(vmt_lapic *l)
{
	if (!l)
		return -EINVAL;
	return (int)(atomic_load(&l->lvt) & VMT_LAPIC_LVT_VECTOR);
}

int vmt_lapic_guest_tsc(vmt_lapic *l, uint64_t *tsc)
{
	if (!l || !tsc)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	*tsc = tsc_at(l, vm_now(l));
	pthread_mutex_unlock(&l->lock);
	return 0;
}

int vmt_lapic_set_guest_tsc(vmt_lapic *l, uint64_t tsc)
{
	if (!l)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	advance(l, 0);
	l->tsc_offset = tsc - muldiv(vm_now(l), l->tsc_hz, NS_SEC);
	advance(l, 0);
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);
	return 0;
}

static void power_up(struct vmt_lapic *l)
{
	atomic_store(&l->lvt, VMT_LAPIC_LVT_MASKED);
	l->initial = 0;
	l->dcr = 0;
	l->armed = 0;
	l->deadline = 0;
	start_run(l, 0);
}

int vmt_lapic_reset(vmt_lapic *l)
{
	if (!l)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	advance(l, 0);
	power_up(l);
	l->stats.lost += l->backlog;
	l->backlog = 0;
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);
	return 0;
}

int vmt_lapic_config_init(struct vmt_lapic_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->bus_hz = VMT_LAPIC_BUS_HZ_DEFAULT;
	cfg->tsc_hz = NS_SEC;
	return 0;
}

int vmt_lapic_new(vmt_loop *loop, const struct vmt_lapic_config *cfg, vmt_lapic **ret)
{
	char name[VMT_DEV_NAME_MAX + 1];
	uint64_t bus, tsc;
	struct vmt_lapic *l;
	int r;

	if (!loop || !cfg || !ret || (unsigned)cfg->dev.ticks > VMT_TICKS_DELAY)
		return -EINVAL;
	bus = cfg->bus_hz ? cfg->bus_hz : VMT_LAPIC_BUS_HZ_DEFAULT;
	tsc = cfg->tsc_hz ? cfg->tsc_hz : NS_SEC;
	if (bus > 10 * NS_SEC || tsc > 100 * NS_SEC)
		return -EINVAL;
	r = vmti_dev_name(cfg->dev.name, "lapic-timer", name);
	if (r < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = -pthread_mutex_init(&l->lock, NULL);
	if (r < 0)
		goto fail;
	r = vmti_irq_init(&l->irq, cfg->dev.irq, cfg->dev.irq_opaque, &l->lock, irq_done, l);
	if (r < 0)
		goto fail_lock;
	r = vmt_timer_new(loop, VMT_CLOCK_VM, timer_fn, l, &l->timer);
	if (r < 0)
		goto fail_irq;
	vmt_timer_set_name(l->timer, name);
	strcpy(l->name, name);
	l->src = vmt_loop_source(loop);
	l->ticks = cfg->dev.ticks;
	l->min_period = cfg->dev.min_period_ns ? cfg->dev.min_period_ns : VMT_DEV_MIN_PERIOD_NS;
	l->bus_hz = bus;
	l->tsc_hz = tsc;
	l->tsc_offset = cfg->tsc_offset;
	power_up(l);
	*ret = l;
	return 0;

fail_irq:
	vmti_irq_destroy(&l->irq);
fail_lock:
	pthread_mutex_destroy(&l->lock);
fail:
	free(l);
	return r;
}

vmt_lapic *vmt_lapic_free(vmt_lapic *l)
{
	if (!l)
		return NULL;
	vmt_timer_free(l->timer);
	vmti_irq_destroy(&l->irq);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return NULL;
}

int vmt_lapic_save(vmt_lapic *l, vmt_fields_writer *w, uint32_t id)
{
	vmt_ns vm;
	int r;

	if (!l || !w)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	advance(l, 0);
	vm = vm_now(l);
	/* The writer's errors are sticky: checking the last call is enough. */
	vmt_fields_begin_group(w, id);
	vmt_fields_put_u64(w, F_VERSION, FIELD_STATE_VERSION);
	vmt_fields_put_u64(w, F_LVT, atomic_load(&l->lvt));
	vmt_fields_put_u64(w, F_INITIAL, l->initial);
	vmt_fields_put_u64(w, F_DCR, l->dcr);
	vmt_fields_put_u64(w, F_ARMED, (uint64_t)l->armed);
	vmt_fields_put_u64(w, F_BASE, l->base);
	vmt_fields_put_u64(w, F_ELAPSED, vm > l->start ? vm - l->start : 0);
	vmt_fields_put_u64(w, F_DONE, l->done);
	vmt_fields_put_u64(w, F_DEADLINE, l->deadline);
	vmt_fields_put_u64(w, F_TSC_OFFSET, l->tsc_offset - muldiv(vm, l->tsc_hz, NS_SEC));
	vmt_fields_put_u64(w, F_BACKLOG, l->backlog);
	r = vmt_fields_end_group(w);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);
	return r < 0 ? r : 0;
}

int vmt_lapic_restore(vmt_lapic *l, const vmt_fields_reader *r, uint32_t id)
{
	uint64_t version, lvt, initial, dcr, armed, base, elapsed, done, deadline, tsc0, backlog;
	const struct {
		uint32_t id;
		uint64_t *v;
	} u[] = {
		{ F_VERSION, &version }, { F_LVT, &lvt },	  { F_INITIAL, &initial },
		{ F_DCR, &dcr },	 { F_ARMED, &armed },	  { F_BASE, &base },
		{ F_ELAPSED, &elapsed }, { F_DONE, &done },	  { F_DEADLINE, &deadline },
		{ F_TSC_OFFSET, &tsc0 }, { F_BACKLOG, &backlog },
	};
	vmt_fields_reader g;
	vmt_ns vm;
	int e;

	if (!l || !r)
		return -EINVAL;
	e = vmt_fields_get_group(r, id, &g);
	if (e < 0)
		return e;
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		e = vmt_fields_get_u64(&g, u[i].id, u[i].v);
		if (e < 0)
			return e;
	}
	if (version != FIELD_STATE_VERSION || lvt & ~(uint64_t)LVT_WRITABLE ||
	    initial > UINT32_MAX || dcr & ~(uint64_t)DCR_WRITABLE || armed > 1 ||
	    backlog > VMT_TICKS_BACKLOG_MAX)
		return -EBADMSG;

	pthread_mutex_lock(&l->lock);
	vm = vm_now(l);
	atomic_store(&l->lvt, (unsigned)lvt);
	l->initial = (uint32_t)initial;
	l->dcr = (uint32_t)dcr;
	l->armed = (int)armed;
	l->base = base;
	l->done = done;
	/* The run resumes @elapsed into itself at the current VM time. */
	if (vm >= elapsed) {
		l->start = vm - elapsed;
	} else {
		l->start = 0;
		l->base = ticks_at(l, elapsed);	/* (start 0: the elapsed part) */
		l->start = vm;
	}
	l->deadline = deadline;
	l->tsc_offset = tsc0 + muldiv(vm, l->tsc_hz, NS_SEC);
	l->backlog = backlog;
	memset(&l->stats, 0, sizeof(l->stats));
	l->stats.ticks = backlog;	/* the books: ticks == raised + lost + backlog */
	l->inflight = 0;
	l->next_raise = 0;
	vmti_irq_clear(&l->irq);
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

static const char *mode_name(unsigned m)
{
	return m == VMT_LAPIC_MODE_PERIODIC ? "periodic" :
	       m == VMT_LAPIC_MODE_TSC_DEADLINE ? "tsc-deadline" : "one-shot";
}

int vmt_lapic_inspect(vmt_lapic *l, FILE *out)
{
	struct vmt_dev_stats st;
	uint32_t lvt, initial, current;
	uint64_t div, deadline, tsc;
	vmt_ns vm;
	int n;

	if (!l || !out)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	advance(l, 0);
	vm = vm_now(l);
	lvt = atomic_load(&l->lvt);
	initial = l->initial;
	current = mode(l) == VMT_LAPIC_MODE_TSC_DEADLINE ? 0 : current_count(l, vm);
	div = divide(l);
	deadline = l->deadline;
	tsc = tsc_at(l, vm);
	st = l->stats;
	st.backlog = l->backlog + l->inflight;
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);

	n = fprintf(out,
		    "{\"name\":\"%s\",\"mode\":\"%s\",\"vector\":%u,\"masked\":%s,\"initial\":%" PRIu32
		    ",\"current\":%" PRIu32 ",\"divide\":%" PRIu64 ",\"deadline\":%" PRIu64
		    ",\"tsc\":%" PRIu64 ",\"bus_hz\":%" PRIu64 ",\"tsc_hz\":%" PRIu64
		    ",\"ticks\":\"%s\",\"stats\":{\"ticks\":%" PRIu64 ",\"raised\":%" PRIu64
		    ",\"coalesced\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"backlog\":%" PRIu64 "}}",
		    l->name, mode_name((lvt & VMT_LAPIC_LVT_MODE) >> VMT_LAPIC_LVT_MODE_SHIFT),
		    lvt & VMT_LAPIC_LVT_VECTOR, lvt & VMT_LAPIC_LVT_MASKED ? "true" : "false", initial,
		    current, div, deadline, tsc, l->bus_hz, l->tsc_hz, vmt_tick_policy_name(l->ticks),
		    st.ticks, st.raised, st.coalesced, st.lost, st.backlog);
	return n < 0 || ferror(out) ? -EIO : 0;
}

int vmt_lapic_get_stats(vmt_lapic *l, struct vmt_dev_stats *stats)
{
	if (!l || !stats)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	advance(l, 0);
	*stats = l->stats;
	stats->backlog = l->backlog + l->inflight;
	stats->due = 0;	/* advance() just accounted every expiry */
	rearm(l);
	pthread_mutex_unlock(&l->lock);
	vmti_irq_flush(&l->irq);
	return 0;
}

static int unit_op(void *dev, enum vmti_unit_op op, vmt_fields_writer *w,
		   const vmt_fields_reader *r, FILE *out)
{
	switch (op) {
	case VMTI_UNIT_RESET:
		return vmt_lapic_reset(dev);
	case VMTI_UNIT_SAVE:
		return vmt_lapic_save(dev, w, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_RESTORE:
		return vmt_lapic_restore(dev, r, VMTI_DEV_UNIT_GROUP);
	case VMTI_UNIT_INSPECT:
		return vmt_lapic_inspect(dev, out);
	}
	return -EINVAL;
}

int vmt_lapic_add_unit(vmt_lapic *l, vmt_units *units, vmt_unit **ret)
{
	if (!l || !units)
		return -EINVAL;
	l->unit = (struct vmti_dev_unit){ unit_op, l, l->name };
	return vmti_dev_unit_add(units, &l->unit, ret);
}
