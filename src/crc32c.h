/* SPDX-License-Identifier: MIT */
/*
 * crc32c.h - CRC-32C (Castagnoli, the iSCSI/ext4 polynomial 0x1EDC6F41,
 * reflected), used by the snapshot format.  Not installed.
 *
 * The running value is the finished CRC of the bytes so far, so
 * vmti_crc32c(vmti_crc32c(0, a, n), b, m) == CRC of a followed by b.
 */
#ifndef VMT_CRC32C_H
#define VMT_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Uses the SSE4.2 crc32 instruction when the CPU has it, the tables otherwise. */
uint32_t vmti_crc32c(uint32_t crc, const void *p, size_t n);

/* The table-driven version (slicing by 8), always available. */
uint32_t vmti_crc32c_sw(uint32_t crc, const void *p, size_t n);

/* The SSE4.2 version; only call it when vmti_crc32c_have_hw() is true. */
uint32_t vmti_crc32c_hw(uint32_t crc, const void *p, size_t n);

/* True if this CPU (and this build) can run vmti_crc32c_hw(). */
bool vmti_crc32c_have_hw(void);

#endif /* VMT_CRC32C_H */
