/* SPDX-License-Identifier: MIT */
/* json.c - UTF-8 validation and JSON string output; see json.h. */
#include <stdint.h>
#include <string.h>

#include "json.h"

size_t vmti_utf8_seq(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t lo = 0x80, hi = 0xbf; /* bounds of the second byte */
	size_t len;

	if (n == 0)
		return 0;
	if (b[0] < 0x80)
		return 1;
	/*
	 * The second byte's range excludes overlongs (E0, F0), surrogates (ED)
	 * and code points above U+10FFFF (F4), as in RFC 3629's table.
	 */
	if (b[0] >= 0xc2 && b[0] <= 0xdf) {
		len = 2;
	} else if (b[0] >= 0xe0 && b[0] <= 0xef) {
		len = 3;
		if (b[0] == 0xe0)
			lo = 0xa0;
		else if (b[0] == 0xed)
			hi = 0x9f;
	} else if (b[0] >= 0xf0 && b[0] <= 0xf4) {
		len = 4;
		if (b[0] == 0xf0)
			lo = 0x90;
		else if (b[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || b[1] < lo || b[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (b[i] < 0x80 || b[i] > 0xbf)
			return 0;
	return len;
}

size_t vmti_utf8_check(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i = 0;

	while (i < n) {
		size_t l = vmti_utf8_seq(b + i, n - i);

		if (!l)
			return i;
		i += l;
	}
	return n;
}

void vmti_json_str(FILE *f, const void *s, size_t n)
{
	const uint8_t *b = s;

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		size_t l = vmti_utf8_seq(b + i, n - i);
		uint8_t c = b[i];

		if (l > 1) {
			fwrite(b + i, 1, l, f);
			i += l;
			continue;
		}
		i++;
		if (l == 0)
			fputs("\\ufffd", f);
		else if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\b')
			fputs("\\b", f);
		else if (c == '\f')
			fputs("\\f", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void vmti_json_cstr(FILE *f, const char *s)
{
	if (s)
		vmti_json_str(f, s, strlen(s));
	else
		fputs("null", f);
}
