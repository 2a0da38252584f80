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
 * The target attribute lets this one function use SSE4.2 while the library is
 * built for baseline x86-64; vmti_crc32c() only calls it after checking CPUID.
 */
__attribute__((target("sse4.2"))) uint32_t vmti_crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t c = ~crc;

	while (n && ((uintptr_t)b & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *b++);
		n--;
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
