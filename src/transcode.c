/* SPDX-License-Identifier: MIT
**
** Windows-1252, ISO-8859-1 and ISO-8859-15 to UTF-8 (see transcode.h; UTF-8
** validation is utf8.c's). Windows-1252's five unassigned bytes (0x81,
** 0x8D, 0x8F, 0x90, 0x9D) map to the C1 controls of the same value, as the
** WHATWG encoding standard does, so no byte is ever lost.
*/
#include <string.h>
#include <strings.h>

#include "transcode.h"

static const unsigned short cp1252_80_9f[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178
};

static const struct { const char *name; int enc; } names[] = {
    { "utf-8", KC_ENC_UTF8 }, { "utf8", KC_ENC_UTF8 },
    { "windows-1252", KC_ENC_CP1252 }, { "cp1252", KC_ENC_CP1252 },
    { "iso-8859-1", KC_ENC_LATIN1 }, { "latin1", KC_ENC_LATIN1 }, { "latin-1", KC_ENC_LATIN1 },
    { "iso-8859-15", KC_ENC_LATIN9 }, { "latin9", KC_ENC_LATIN9 }, { "latin-9", KC_ENC_LATIN9 },
    { NULL, 0 }
};

int kc_encoding_from_name(const char *name)
{
    int i;
    for (i = 0; names[i].name; i++)
        if (strcasecmp(names[i].name, name) == 0)
            return names[i].enc;
    return -1;
}

const char *kc_encoding_name(int enc)
{
    switch (enc) {
    case KC_ENC_CP1252: return "windows-1252";
    case KC_ENC_LATIN1: return "iso-8859-1";
    case KC_ENC_LATIN9: return "iso-8859-15";
    default: return "utf-8";
    }
}

static unsigned latin9_code(unsigned c)
{
    switch (c) {
    case 0xA4: return 0x20AC;
    case 0xA6: return 0x0160;
    case 0xA8: return 0x0161;
    case 0xB4: return 0x017D;
    case 0xB8: return 0x017E;
    case 0xBC: return 0x0152;
    case 0xBD: return 0x0153;
    case 0xBE: return 0x0178;
    default: return c;
    }
}

int kc_transcode_to_utf8(kc_buf *out, const char *str, size_t n, int enc)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i;
    if (kc_buf_reserve(out, n * 3) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned cp = s[i];
        char *p = out->data + out->len;
        if (cp >= 0x80) {
            if (enc == KC_ENC_CP1252 && cp < 0xA0)
                cp = cp1252_80_9f[cp - 0x80];
            else if (enc == KC_ENC_LATIN9)
                cp = latin9_code(cp);
        }
        if (cp < 0x80) {
            p[0] = (char)cp;
            out->len += 1;
        } else if (cp < 0x800) {
            p[0] = (char)(0xC0 | (cp >> 6));
            p[1] = (char)(0x80 | (cp & 0x3F));
            out->len += 2;
        } else {
            p[0] = (char)(0xE0 | (cp >> 12));
            p[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            p[2] = (char)(0x80 | (cp & 0x3F));
            out->len += 3;
        }
    }
    out->data[out->len] = '\0';
    return 0;
}
