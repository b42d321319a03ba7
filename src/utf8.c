/* SPDX-License-Identifier: MIT
**
** Strict UTF-8 decoding and validation used by the schema validator (every
** string a payload carries), the canonical encoder (which refuses to emit
** invalid JSON text) and the CSV reader (to tell UTF-8 from Windows-1252). No Lua, no allocation.
*/
#include <stdint.h>
#include <string.h>

#include "utf8.h"

long kc_utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
    unsigned c = s[0];
    size_t need, i;
    long cp, min;

    *len = 1;
    if (c < 0x80)
        return (long)c;
    if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; min = 0x10000; }
    else return -1;   /* continuation byte, C0/C1 overlong lead, F5..FF */
    if (n < need + 1)
        return -1;
    for (i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *len = need + 1;
    return cp;
}

int kc_utf8_valid(const char *s, size_t n, size_t *chars, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, count = 0, len;

    while (i < n) {
        if (p[i] < 0x80) {
            /* ASCII, the usual case: eight bytes at a time while no high bit is set */
            uint64_t word;
            while (i + 8 <= n) {
                memcpy(&word, p + i, 8);
                if (word & 0x8080808080808080ULL)
                    break;
                i += 8;
                count += 8;
            }
            while (i < n && p[i] < 0x80) { i++; count++; }
            continue;
        }
        if (kc_utf8_decode(p + i, n - i, &len) < 0) {
            if (bad_at) *bad_at = i;
            return 0;
        }
        i += len;
        count++;
    }
    if (chars) *chars = count;
    return 1;
}

size_t kc_utf8_valid_prefix(const char *s, size_t n)
{
    size_t bad = n;
    return kc_utf8_valid(s, n, NULL, &bad) ? n : bad;
}

int kc_utf8_is_control(long cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}
