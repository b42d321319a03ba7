/* SPDX-License-Identifier: MIT
**
** Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
** U+10FFFF, no truncated sequences. Plain C, no Lua.
*/
#ifndef KIVA_UTF8_H
#define KIVA_UTF8_H

#include <stddef.h>

/* Decodes one code point at s[0..n): returns it and sets *len to its byte
** length, or returns -1 (invalid or truncated) with *len = 1. n must be > 0. */
long kc_utf8_decode(const unsigned char *s, size_t n, size_t *len);

/* 1 if s[0..n) is valid UTF-8 (then *chars = code points), else 0 with
** *bad_at = byte offset of the first invalid sequence. Either pointer may be NULL. */
int kc_utf8_valid(const char *s, size_t n, size_t *chars, size_t *bad_at);

/* Length of the valid UTF-8 prefix of s: n when all of s is valid. */
size_t kc_utf8_valid_prefix(const char *s, size_t n);

/* A control character: C0 (U+0000..U+001F), DEL, or C1 (U+0080..U+009F). */
int kc_utf8_is_control(long cp);

#endif
