/* SPDX-License-Identifier: MIT */
/* crc32c.c - CRC-32C, with the SSE4.2 instruction when the CPU has one. */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VMT_CRC_X86 1
#include <nmmintrin.h>
#endif

/* Reflected form of the Castagnoli polynomial 0x1EDC6F41. */
#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	/* Slice k advances a byte through k further zero bytes. */
	for (unsigned i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^
					  crc_table[0][crc_table[k - 1][i] & 0xff];
}

uint32_t vmti_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t c = ~crc;

	pthread_once(&crc_table_once, crc_table_init);
	while (n && ((uintptr_t)b & 7)) {
		c = (c >> 8) ^ crc_table[0][(c ^ *b++) & 0xff];
		n--;
	}
	while (n >= 8) {
		uint32_t lo, hi;

		/* memcpy: the buffer has no alignment promise the compiler can see. */
		memcpy(&lo, b, 4);
		memcpy(&hi, b + 4, 4);
		lo ^= c;
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		b += 8;
		n -= 8;
	}
	while (n--)
		c = (c >> 8) ^ crc_table[0][(c ^ *b++) & 0xff];
	return ~c;
}

#ifdef VMT_CRC_X86
/*
 * The crc32 instruction has a latency of 3 cycles but a throughput of one
 * per cycle, so one dependent chain runs at a third of the possible speed.
 * Long inputs are cut into three lanes computed at once and merged: the CRC
 * register is affine in its start value, so
 *   R(A || B, s) = shift_|B|(R(A, s)) ^ R(B, 0)
 * where shift_n is the (linear) effect of n zero bytes, applied with four
 * table lookups built once for each lane length.
 */
#define LANE_LONG 8192
#define LANE_SHORT 256

static uint32_t shift_long[4][256], shift_short[4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

/* The register after @n zero bytes, from state @c (raw, no inversion). */
static uint32_t zeros_raw(uint32_t c, size_t n)
{
	while (n--)
		c = (c >> 8) ^ crc_table[0][c & 0xff];
	return c;
}

static void shift_table(uint32_t t[4][256], size_t n)
{
	uint32_t basis[32];

	/* Linear: the 32 single-bit states are enough to build every entry. */
	for (int b = 0; b < 32; b++)
		basis[b] = zeros_raw(1u << b, n);
	for (int k = 0; k < 4; k++) {
		for (unsigned v = 0; v < 256; v++) {
			uint32_t x = 0;

			for (int b = 0; b < 8; b++)
				if (v & (1u << b))
					x ^= basis[8 * k + b];
			t[k][v] = x;
		}
	}
}

static void shift_init(void)
{
	pthread_once(&crc_table_once, crc_table_init);
	shift_table(shift_long, LANE_LONG);
	shift_table(shift_short, LANE_SHORT);
}

static inline uint32_t shift(uint32_t t[4][256], uint32_t c)
{
	return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

/*
 * The target attribute lets these functions use SSE4.2 while the library is
 * built for baseline x86-64; vmti_crc32c() only calls them after CPUID.
 */
__attribute__((target("sse4.2"))) static uint64_t lanes(uint64_t c, const uint8_t **pb,
							 size_t *pn, size_t lane,
							 uint32_t t[4][256])
{
	const uint8_t *b = *pb;
	size_t n = *pn;

	while (n >= 3 * lane) {
		uint64_t c1 = 0, c2 = 0;

		for (size_t i = 0; i < lane; i += 8) {
			uint64_t v0, v1, v2;

			memcpy(&v0, b + i, 8);
			memcpy(&v1, b + lane + i, 8);
			memcpy(&v2, b + 2 * lane + i, 8);
			c = _mm_crc32_u64(c, v0);
			c1 = _mm_crc32_u64(c1, v1);
			c2 = _mm_crc32_u64(c2, v2);
		}
		c = shift(t, (uint32_t)c) ^ (uint32_t)c1;
		c = shift(t, (uint32_t)c) ^ (uint32_t)c2;
		b += 3 * lane;
		n -= 3 * lane;
	}
	*pb = b;
	*pn = n;
	return c;
}

__attribute__((target("sse4.2"))) uint32_t vmti_crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t c = ~crc;

	while (n && ((uintptr_t)b & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *b++);
		n--;
	}
	if (n >= 3 * LANE_SHORT) {
		pthread_once(&shift_once, shift_init);
		c = lanes(c, &b, &n, LANE_LONG, shift_long);
		c = lanes(c, &b, &n, LANE_SHORT, shift_short);
	}
	while (n >= 8) {
		uint64_t v;

		memcpy(&v, b, 8);
		c = _mm_crc32_u64(c, v);
		b += 8;
		n -= 8;
	}
	while (n--)
		c = _mm_crc32_u8((uint32_t)c, *b++);
	return ~(uint32_t)c;
}

bool vmti_crc32c_have_hw(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t vmti_crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	return vmti_crc32c_sw(crc, p, n);
}

bool vmti_crc32c_have_hw(void)
{
	return false;
}
#endif

uint32_t vmti_crc32c(uint32_t crc, const void *p, size_t n)
{
	if (vmti_crc32c_have_hw())
		return vmti_crc32c_hw(crc, p, n);
	return vmti_crc32c_sw(crc, p, n);
}
