/* SPDX-License-Identifier: MIT */
/*
 * dev-irq.h - ordered interrupt delivery outside a device's lock (internal).
 *
 * A device decides what its lines do while it holds its state mutex (a
 * register write, a timer expiry), but must not call the VMM's irq callback
 * there: the callback may be a KVM ioctl, and a vCPU thread blocked on the
 * device mutex behind it would stall.  So the device queues line events
 * under its mutex and flushes them after unlocking:
 *
 *	pthread_mutex_lock(&dev->lock);
 *	...
 *	vmti_irq_pulse(&dev->irq, 0, tag);	// queued, not called
 *	pthread_mutex_unlock(&dev->lock);
 *	vmti_irq_flush(&dev->irq);		// calls the callback
 *
 * Two threads may flush at once (the loop thread after a tick, a vCPU thread
 * after clearing a status bit); a delivery mutex makes one of them deliver
 * every queued event in queue order, so the controller never sees a
 * deassert overtaken by the assert it followed.
 *
 *   loop thread                     vCPU thread
 *   lock; pulse(0); unlock
 *                                   lock; set(0, 0); unlock
 *   flush: take deliver, pop pulse
 *                                   flush: deliver busy -> the holder
 *     fn(1), fn(0)                         will pop our event too; return
 *     pop set(0,0), fn(0)
 *
 * The result of a pulse (taken / coalesced) is handed back to the device
 * under its mutex through the done() hook, which is how REINJECT backlogs
 * learn that a tick was not taken.
 */
#ifndef VMT_DEV_IRQ_H
#define VMT_DEV_IRQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <vmtime/device.h>

/* Events queued between two flushes; more are merged (see dev-irq.c). */
#define VMTI_IRQ_QLEN 32

enum vmti_irq_kind {
	VMTI_IRQ_LEVEL = 0,	/* line to a level */
	VMTI_IRQ_PULSE = 1,	/* 1 then 0 */
};

struct vmti_irq_ev {
	uint8_t kind;
	uint8_t line;
	uint8_t level;
	uint32_t tag;		/* the device's, handed back to done() */
};

/*
 * done() - a pulse's outcome, called with the device's state mutex held.
 * @taken: 1 if the controller took it, 0 if it was coalesced, failed or was
 *	merged in a full queue.
 */
typedef void (*vmti_irq_done_fn)(void *dev, unsigned line, uint32_t tag, int taken);

struct vmti_irq {
	vmt_irq_fn fn;
	void *opaque;
	pthread_mutex_t *state;		/* the device's state mutex */
	vmti_irq_done_fn done;		/* may be NULL */
	void *dev;
	pthread_mutex_t deliver;
	atomic_uint pending;		/* flushes wanted while one ran */
	unsigned head, count;
	struct vmti_irq_ev q[VMTI_IRQ_QLEN];
	uint64_t levels;		/* last queued level of lines 0..63 */
};

/* vmti_irq_init() - bind to a device; @fn NULL drops every event. */
int vmti_irq_init(struct vmti_irq *irq, vmt_irq_fn fn, void *opaque, pthread_mutex_t *state,
		  vmti_irq_done_fn done, void *dev);
void vmti_irq_destroy(struct vmti_irq *irq);

/* Under the state mutex: queue a level change (nothing if unchanged). */
void vmti_irq_set(struct vmti_irq *irq, unsigned line, int level);
/* Under the state mutex: queue an edge. */
void vmti_irq_pulse(struct vmti_irq *irq, unsigned line, uint32_t tag);
/* Under the state mutex: the level last queued for @line. */
int vmti_irq_level(const struct vmti_irq *irq, unsigned line);
/* Under the state mutex: forget the queue and the levels (reset, restore). */
void vmti_irq_clear(struct vmti_irq *irq);

/* Without the state mutex: deliver what is queued. */
void vmti_irq_flush(struct vmti_irq *irq);

/*
 * What else every device does the same way (not interrupts, but every
 * device that includes this header needs them).
 */
#include <vmtime/units.h>

/*
 * vmti_dev_name() - check cfg->dev.name (NULL: @def) and copy it into @buf
 * (VMT_DEV_NAME_MAX + 1 bytes).  Return: 0, -EINVAL for an empty name or a
 * character other than printable ASCII but '"' and '\\', -ENAMETOOLONG.
 */
int vmti_dev_name(const char *name, const char *def, char *buf);

/*
 * vmti_dev_add_unit() - add a device unit named @name that depends on
 * "vmtime".  Return: 0, -ENOENT if @units has no "vmtime", or the errno of
 * vmt_units_add() / vmt_unit_depends_on() (the unit is then removed).
 */
int vmti_dev_add_unit(vmt_units *units, const char *name, const struct vmt_unit_ops *ops,
		      void *dev, vmt_unit **ret);

/*
 * A device's unit through one operation function, so the vmt_unit_ops
 * trampolines (payload version 1, saved state in field group
 * VMTI_DEV_UNIT_GROUP, error messages naming the unit) exist once.  The
 * device embeds a struct vmti_dev_unit, which must outlive the unit.
 */
#define VMTI_DEV_UNIT_GROUP 1u

enum vmti_unit_op {
	VMTI_UNIT_RESET,
	VMTI_UNIT_SAVE,		/* into @w, group VMTI_DEV_UNIT_GROUP */
	VMTI_UNIT_RESTORE,	/* from @r, group VMTI_DEV_UNIT_GROUP */
	VMTI_UNIT_INSPECT,	/* to @out */
};

struct vmti_dev_unit {
	int (*op)(void *dev, enum vmti_unit_op op, vmt_fields_writer *w,
		  const vmt_fields_reader *r, FILE *out);
	void *dev;
	const char *name;
};

/* vmti_dev_unit_add() - vmti_dev_add_unit() with the shared trampolines. */
int vmti_dev_unit_add(vmt_units *units, struct vmti_dev_unit *u, vmt_unit **ret);

/* A unit that also starts and stops (those cannot fail: the device counts). */
struct vmti_dev_runner {
	struct vmti_dev_unit unit;	/* first: the trampolines get its address */
	void (*start)(void *dev);
	void (*stop)(void *dev);
};

/* vmti_dev_runner_add() - vmti_dev_unit_add() with start and stop. */
int vmti_dev_runner_add(vmt_units *units, struct vmti_dev_runner *r, vmt_unit **ret);

#endif /* VMT_DEV_IRQ_H */
