/* SPDX-License-Identifier: MIT */
/*
 * json.h - UTF-8 validation and the one JSON string writer (not installed).
 *
 * Every JSON vmtime prints (inspect, `vmtime snapshot show`, ...) writes its
 * strings through vmti_json_str(), so the output is valid UTF-8 JSON whatever
 * bytes a name holds: `"` and `\` are escaped, control characters (and DEL)
 * become \n, \t, \r, \b, \f or \u00XX, valid UTF-8 sequences are copied
 * as they are, and every byte that does not start a valid sequence is written
 * as the escape \ufffd (U+FFFD REPLACEMENT CHARACTER), one per byte, so the
 * output is pure ASCII wherever the input was not UTF-8.
 */
#ifndef VMT_JSON_H
#define VMT_JSON_H

#include <stddef.h>
#include <stdio.h>

/*
 * vmti_utf8_seq() - the length (1-4) of the valid UTF-8 sequence that starts
 * at @p (@n bytes available), or 0 if none does: a stray continuation byte,
 * an overlong form, a surrogate (U+D800-U+DFFF), a code point above U+10FFFF,
 * 0xC0, 0xC1, 0xF5-0xFF, or a sequence truncated by @n.  NUL is valid (1).
 */
size_t vmti_utf8_seq(const void *p, size_t n);

/* vmti_utf8_check() - offset of the first invalid byte in @p, or @n if valid. */
size_t vmti_utf8_check(const void *p, size_t n);

/* vmti_json_str() - write @n bytes of @s as one quoted JSON string. */
void vmti_json_str(FILE *f, const void *s, size_t n);

/* vmti_json_cstr() - vmti_json_str() of a NUL-terminated @s; NULL writes null. */
void vmti_json_cstr(FILE *f, const char *s);

#endif /* VMT_JSON_H */
