/* SPDX-License-Identifier: MIT */
/*
 * saved-fields.h - the field ids of the library's own saved state.
 *
 * The writers (keeper-unit.c, ptimer.c, timerfd.c) and the one reader that
 * decodes them without restoring (`vmtime snapshot show`/`diff`) take the
 * ids from here, so a field renumbered or added in a writer cannot be shown
 * under a wrong name.  Ids are part of the snapshot format: never reuse one.
 */
#ifndef VMT_SAVED_FIELDS_H
#define VMT_SAVED_FIELDS_H

/* The keeper's unit: section "vmtime", payload version 1, top level. */
#define VMTI_KEEPER_UNIT_NAME "vmtime"
#define VMTI_KEEPER_PAYLOAD_VERSION 1

enum vmti_keeper_field {
	VMTI_KEEPER_F_VM_NS = 1,     /* u64: VM time when saved (ns) */
	VMTI_KEEPER_F_WALL_NS = 2,   /* u64: wall time when saved (ns since the epoch) */
	VMTI_KEEPER_F_POLICY = 3,    /* u64: enum vmt_restore_policy */
};

/* vmt_ptimer_save(): one group, at the id the device chose. */
enum vmti_ptimer_field {
	VMTI_PTIMER_F_MODE = 1,        /* u64: enum vmt_ptimer_mode */
	VMTI_PTIMER_F_POLICY = 2,      /* u64: VMT_PTIMER_POLICY_* bits */
	VMTI_PTIMER_F_LIMIT = 3,       /* u64: reload value (ticks) */
	VMTI_PTIMER_F_DELTA = 4,       /* u64: count when stopped, or the run's first count */
	VMTI_PTIMER_F_PERIOD = 5,      /* u64: tick period, whole ns */
	VMTI_PTIMER_F_PERIOD_FRAC = 6, /* u64: tick period, fraction of 2^-32 ns */
	VMTI_PTIMER_F_LAST_REL = 7,    /* i64: start of the current run minus now (ns) */
	VMTI_PTIMER_F_LAST_FRAC = 8,   /* u64: fraction of that start (2^-32 ns) */
	VMTI_PTIMER_F_RUN_COUNTS = 9,  /* u64: periods the current run lasts */
};

/* vmt_timerfd_save(): top level of the writer it is given. */
enum vmti_timerfd_field {
	VMTI_TFD_F_CLOCK = 1,         /* u64: enum vmt_clock */
	VMTI_TFD_F_FLAGS = 2,         /* u64: VMT_TFD_NONBLOCK/CLOEXEC */
	VMTI_TFD_F_SETTIME_FLAGS = 3, /* u64: VMT_TFD_TIMER_ABSTIME/CANCEL_ON_SET */
	VMTI_TFD_F_ARMED = 4,         /* u64: 0 or 1 */
	VMTI_TFD_F_DEADLINE = 5,      /* u64: absolute deadline on the clock (ns) */
	VMTI_TFD_F_REMAINING = 6,     /* u64: time to the deadline (ns) */
	VMTI_TFD_F_INTERVAL = 7,      /* u64: period (ns), 0 for one-shot */
	VMTI_TFD_F_PENDING = 8,       /* u64: expirations not read yet */
	VMTI_TFD_F_CANCELLED = 9,     /* u64: 0 or 1, a wall step cancelled it */
	VMTI_TFD_F_EXPIRED = 10,      /* u64: 0 or 1, a one-shot that fired */
};

#endif /* VMT_SAVED_FIELDS_H */
