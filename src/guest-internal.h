/* SPDX-License-Identifier: MIT */
/* guest-internal.h - the arithmetic behind the guest clock pages (not installed). */
#ifndef VMT_GUEST_INTERNAL_H
#define VMT_GUEST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <vmtime/guest.h>

#include "tsc.h"

/* One consistent point of the VM clock as the guest sees it. */
struct vmti_guest_sample {
	uint64_t guest_tsc;
	vmt_ns vm_ns;
	bool frozen;	/* stopped or manual: publish a zero rate */
	bool stable;	/* the keeper runs on an invariant, calibrated TSC */
	vmti_u128 rate; /* ns per guest tick << 64; 0 if unknown */
};

/* Samples @src; rate from the page's TSC parameters, else from @gt->guest_khz. */
int vmti_guest_sample(const vmt_source *src, const struct vmt_guest_tsc *gt,
		      struct vmti_guest_sample *s);

/* The pvclock fields for @s (version and flags untouched). */
int vmti_guest_pvclock_fields(const struct vmti_guest_sample *s,
			      struct vmt_pvclock_vcpu_time_info *out);

/* The Hyper-V scale and offset for @s. */
int vmti_guest_hv_fields(const struct vmti_guest_sample *s, uint64_t *scale, int64_t *offset);

/* The sequence that follows @seq: never 0 (invalid) nor 0xFFFFFFFF. */
uint32_t vmti_guest_hv_next_seq(uint32_t seq);

#endif /* VMT_GUEST_INTERNAL_H */
