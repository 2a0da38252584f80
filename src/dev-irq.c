/* SPDX-License-Identifier: MIT */
/* dev-irq.c - ordered interrupt delivery outside a device's lock. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vmtime/error.h>

#include "dev-irq.h"

int vmti_irq_init(struct vmti_irq *irq, vmt_irq_fn fn, void *opaque, pthread_mutex_t *state,
		  vmti_irq_done_fn done, void *dev)
{
	int r;

	memset(irq, 0, sizeof(*irq));
	irq->fn = fn;
	irq->opaque = opaque;
	irq->state = state;
	irq->done = done;
	irq->dev = dev;
	r = pthread_mutex_init(&irq->deliver, NULL);
	return -r;
}

void vmti_irq_destroy(struct vmti_irq *irq)
{
	pthread_mutex_destroy(&irq->deliver);
}

static struct vmti_irq_ev *tail(struct vmti_irq *irq)
{
	if (!irq->count)
		return NULL;
	return &irq->q[(irq->head + irq->count - 1) % VMTI_IRQ_QLEN];
}

static int push(struct vmti_irq *irq, const struct vmti_irq_ev *ev)
{
	if (irq->count == VMTI_IRQ_QLEN)
		return -ENOSPC;
	irq->q[(irq->head + irq->count) % VMTI_IRQ_QLEN] = *ev;
	irq->count++;
	return 0;
}

void vmti_irq_set(struct vmti_irq *irq, unsigned line, int level)
{
	struct vmti_irq_ev ev = { VMTI_IRQ_LEVEL, (uint8_t)line, (uint8_t)!!level, 0 };
	uint64_t bit = line < 64 ? 1ull << line : 0;
	struct vmti_irq_ev *t;

	if (!bit || !!(irq->levels & bit) == !!level)
		return;
	irq->levels ^= bit;
	/*
	 * A full queue only ever holds the newest level of a line that
	 * matters: overwrite the last event when it is a level change of the
	 * same line (the controller would see a glitch it cannot observe).
	 */
	t = tail(irq);
	if (t && t->kind == VMTI_IRQ_LEVEL && t->line == line) {
		irq->count--;	/* the pair cancels out: back to the old level */
		return;
	}
	if (push(irq, &ev) < 0 && t) {
		/* Full: a level must not be lost; the last event gives way. */
		if (t->kind == VMTI_IRQ_PULSE && irq->done)
			irq->done(irq->dev, t->line, t->tag, 0);
		*t = ev;
	}
}

void vmti_irq_pulse(struct vmti_irq *irq, unsigned line, uint32_t tag)
{
	struct vmti_irq_ev ev = { VMTI_IRQ_PULSE, (uint8_t)line, 1, tag };

	if (line >= 64 || push(irq, &ev) < 0) {
		/* No room: the edge merges with those queued, i.e. coalesced. */
		if (irq->done)
			irq->done(irq->dev, line, tag, 0);
	}
}

int vmti_irq_level(const struct vmti_irq *irq, unsigned line)
{
	return line < 64 && (irq->levels >> line) & 1;
}

void vmti_irq_clear(struct vmti_irq *irq)
{
	irq->head = 0;
	irq->count = 0;
	irq->levels = 0;
}

void vmti_irq_flush(struct vmti_irq *irq)
{
	struct vmti_irq_ev ev;
	int taken;

	/*
	 * Only one thread delivers; a thread that finds it busy leaves its
	 * events to it and says so through @pending, which the deliverer
	 * checks before it lets go, so no event is stranded in the queue.
	 */
	atomic_fetch_add(&irq->pending, 1);
	if (pthread_mutex_trylock(&irq->deliver) != 0)
		return;
	for (;;) {
		atomic_store(&irq->pending, 0);
		for (;;) {
			pthread_mutex_lock(irq->state);
			if (!irq->count) {
				pthread_mutex_unlock(irq->state);
				break;
			}
			ev = irq->q[irq->head];
			irq->head = (irq->head + 1) % VMTI_IRQ_QLEN;
			irq->count--;
			pthread_mutex_unlock(irq->state);

			taken = 0;
			if (irq->fn) {
				taken = irq->fn(irq->opaque, ev.line, ev.level) > 0;
				if (ev.kind == VMTI_IRQ_PULSE)
					irq->fn(irq->opaque, ev.line, 0);
			}
			if (ev.kind == VMTI_IRQ_PULSE && irq->done) {
				pthread_mutex_lock(irq->state);
				irq->done(irq->dev, ev.line, ev.tag, taken);
				pthread_mutex_unlock(irq->state);
			}
		}
		pthread_mutex_unlock(&irq->deliver);
		/* Someone queued while we held deliver and went away: go again. */
		if (!atomic_load(&irq->pending) || pthread_mutex_trylock(&irq->deliver) != 0)
			return;
	}
}

const char *vmt_tick_policy_name(enum vmt_tick_policy p)
{
	switch (p) {
	case VMT_TICKS_COALESCE:
		return "coalesce";
	case VMT_TICKS_REINJECT:
		return "reinject";
	case VMT_TICKS_DELAY:
		return "delay";
	}
	return "unknown";
}

int vmti_dev_name(const char *name, const char *def, char *buf)
{
	size_t n;

	if (!name)
		name = def;
	n = strnlen(name, VMT_DEV_NAME_MAX + 1);
	if (n == 0)
		return -EINVAL;
	if (n > VMT_DEV_NAME_MAX)
		return -ENAMETOOLONG;
	/* Names appear verbatim in JSON, timer names and snapshot files. */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			return -EINVAL;
	}
	memcpy(buf, name, n + 1);
	return 0;
}

int vmti_dev_add_unit(vmt_units *units, const char *name, const struct vmt_unit_ops *ops,
		      void *dev, vmt_unit **ret)
{
	vmt_unit *clock, *unit;
	int r;

	r = vmt_units_find(units, "vmtime", &clock);
	if (r < 0)
		return r;
	r = vmt_units_add(units, name, ops, dev, &unit);
	if (r < 0)
		return r;
	r = vmt_unit_depends_on(unit, clock);
	if (r < 0) {
		vmt_unit_remove(unit);
		return r;
	}
	if (ret)
		*ret = unit;
	return 0;
}

static int unit_reset(void *ud, struct vmt_error *err)
{
	struct vmti_dev_unit *u = ud;

	(void)err;
	return u->op(u->dev, VMTI_UNIT_RESET, NULL, NULL, NULL);
}

static int unit_save(void *ud, vmt_fields_writer *w, struct vmt_error *err)
{
	struct vmti_dev_unit *u = ud;

	(void)err;
	return u->op(u->dev, VMTI_UNIT_SAVE, w, NULL, NULL);
}

static int unit_restore(void *ud, vmt_fields_reader *r, uint32_t version, struct vmt_error *err)
{
	struct vmti_dev_unit *u = ud;
	int e;

	if (version != 1) {
		if (err)
			snprintf(err->msg, sizeof(err->msg), "%s: payload version %u", u->name, version);
		return -EPROTONOSUPPORT;
	}
	e = u->op(u->dev, VMTI_UNIT_RESTORE, NULL, r, NULL);
	if (e < 0 && err)
		snprintf(err->msg, sizeof(err->msg), "%s: saved state refused (%s)", u->name,
			 vmt_strerror(e));
	return e;
}

static void unit_inspect(void *ud, FILE *out)
{
	struct vmti_dev_unit *u = ud;

	u->op(u->dev, VMTI_UNIT_INSPECT, NULL, NULL, out);
}

static void unit_start(void *ud)
{
	struct vmti_dev_runner *r = ud;

	r->start(r->unit.dev);
}

static void unit_stop(void *ud)
{
	struct vmti_dev_runner *r = ud;

	r->stop(r->unit.dev);
}

int vmti_dev_unit_add(vmt_units *units, struct vmti_dev_unit *u, vmt_unit **ret)
{
	static const struct vmt_unit_ops ops = {
		.reset = unit_reset,
		.save = unit_save,
		.save_version = 1,
		.restore = unit_restore,
		.inspect = unit_inspect,
	};

	return vmti_dev_add_unit(units, u->name, &ops, u, ret);
}

int vmti_dev_runner_add(vmt_units *units, struct vmti_dev_runner *r, vmt_unit **ret)
{
	static const struct vmt_unit_ops ops = {
		.start = unit_start,
		.stop = unit_stop,
		.reset = unit_reset,
		.save = unit_save,
		.save_version = 1,
		.restore = unit_restore,
		.inspect = unit_inspect,
	};

	return vmti_dev_add_unit(units, r->unit.name, &ops, &r->unit, ret);
}
