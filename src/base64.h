/* SPDX-License-Identifier: MIT
**
** The RFC 4648 alphabets, for the strict checks done before OpenSSL decodes
** (EVP_DecodeBlock skips whitespace and cannot tell padding from zero bytes).
** Shared by crypto.c (base64 and base64url strings) and image.c (data URIs).
*/
#ifndef KIVA_BASE64_H
#define KIVA_BASE64_H

#include <stddef.h>

/* Offset of the first byte of s[0..n) outside the alphabet (url: base64url's
** '-' '_' instead of '+' '/'), or n when all are in it. Padding is the caller's. */
static inline size_t kc_base64_scan(const char *s, size_t n, int url)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            continue;
        if (url ? (c == '-' || c == '_') : (c == '+' || c == '/'))
            continue;
        break;
    }
    return i;
}

#endif
