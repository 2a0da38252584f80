/* SPDX-License-Identifier: MIT */
/*
 * page.h - the clock page: the VM clock's state, shared read-only.
 *
 * The keeper is the only writer; readers in any thread or process map the
 * page and read it lock-free behind a 64-bit sequence counter (odd while a
 * write is in progress).  Fields are C11 atomics accessed relaxed, ordered by
 * the fences around the sequence, so sanitizers see no data race and x86
 * compiles every access to a plain mov.
 *
 *   write:  seq += 1 (full barrier, odd) -> fields -> seq += 1 (release)
 *   read:   s = seq (acquire) -> fields -> host clock -> fence(acquire) ->
 *           retry if s odd or seq != s
 *
 * The writer samples the host clock only after its odd increment is globally
 * visible (the increment is a locked instruction).  A reader whose read
 * overlapped the write therefore retries, and a reader that finished before
 * sampled its host time before the writer did, so a stop never freezes below
 * a value a reader already returned.
 *
 * The layout is an ABI between processes of possibly different builds: fields
 * are only ever appended, and the header says how large the page is.
 */
#ifndef VMT_PAGE_H
#define VMT_PAGE_H

#include <stdatomic.h>
#include <stdint.h>

#define VMTI_PAGE_MAGIC UINT64_C(0x314b4c43544d5600) /* "\0VMTCLK1" little-endian */
#define VMTI_PAGE_VERSION 1
#define VMTI_PAGE_MAP_SIZE 4096

/* flags */
#define VMTI_PAGE_RUNNING (1u << 0)   /* VM clock runs */
#define VMTI_PAGE_MANUAL (1u << 1)    /* VM time moves only by advance */
#define VMTI_PAGE_TSC_VALID (1u << 2) /* tsc_* give host time; else clock_gettime */
#define VMTI_PAGE_DEAD (1u << 3)      /* the keeper is gone; the clock is frozen */

struct vmti_page {
	/* Constant after creation. */
	uint64_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct vmti_page) of the writer */
	uint64_t keeper_pid;
	uint64_t reserved0[5];

	/* Written by the keeper under the sequence; own cache line. */
	_Alignas(64) _Atomic uint64_t seq;
	_Atomic uint64_t flags;
	_Atomic uint64_t vm_base;	/* VM time at host_base (running) or frozen value */
	_Atomic uint64_t host_base;	/* host monotonic ns at the last start */
	_Atomic uint64_t generation;	/* bumped on every state change */
	_Atomic uint64_t reset_count;	/* bumped when VM time is set explicitly */
	_Atomic uint64_t wall_steps;	/* injected wall-clock steps (test hook) */
	_Atomic uint64_t restore_policy;

	/*
	 * Host time from the TSC (valid with VMTI_PAGE_TSC_VALID):
	 *   host_ns = tsc_ns_base + (((tsc - tsc_base) * tsc_mult) >> tsc_shift)
	 * with the product taken on 128 bits.
	 */
	_Alignas(64) _Atomic uint64_t tsc_base;
	_Atomic uint64_t tsc_ns_base;
	_Atomic uint64_t tsc_mult;
	_Atomic uint64_t tsc_shift;
	_Atomic uint64_t tsc_khz;
	_Atomic uint64_t tsc_refreshes;
};

_Static_assert(sizeof(struct vmti_page) <= VMTI_PAGE_MAP_SIZE, "clock page exceeds its mapping");

#endif /* VMT_PAGE_H */
