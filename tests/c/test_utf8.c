/* SPDX-License-Identifier: MIT
** utf8.c: strict UTF-8, the edge cases a payload may carry (overlong forms,
** surrogates, truncated sequences, code points above U+10FFFF) and controls. */
#include <string.h>

#include "ctest.h"
#include "utf8.h"

static int valid(const char *s)
{
    return kc_utf8_valid(s, strlen(s), NULL, NULL);
}

int main(void)
{
    size_t chars = 0, bad = 99, len = 0;

    CHECK(valid(""));
    CHECK(valid("plain ASCII"));
    CHECK(kc_utf8_valid("Th\xC3\xA8s \xE2\x9C\x93 \xF0\x9F\x98\x80", 14, &chars, NULL) && chars == 8);
    CHECK(valid("\xC2\x80") && valid("\xDF\xBF"));                 /* 2-byte bounds */
    CHECK(valid("\xE0\xA0\x80") && valid("\xEF\xBF\xBF"));         /* 3-byte bounds */
    CHECK(valid("\xF0\x90\x80\x80") && valid("\xF4\x8F\xBF\xBF")); /* 4-byte bounds, U+10FFFF */
    CHECK(valid("\xED\x9F\xBF") && valid("\xEE\x80\x80"));         /* around the surrogates */

    /* overlong forms */
    CHECK(!valid("\xC0\xAF"));
    CHECK(!valid("\xC1\xBF"));
    CHECK(!valid("\xE0\x80\xAF"));
    CHECK(!valid("\xE0\x9F\xBF"));
    CHECK(!valid("\xF0\x80\x80\xAF"));
    CHECK(!valid("\xF0\x8F\xBF\xBF"));
    /* surrogates U+D800..U+DFFF */
    CHECK(!valid("\xED\xA0\x80"));
    CHECK(!valid("\xED\xBF\xBF"));
    CHECK(!valid("\xED\xA0\xBD\xED\xB8\x80"));   /* CESU-8 pair */
    /* above U+10FFFF, and bytes that never occur */
    CHECK(!valid("\xF4\x90\x80\x80"));
    CHECK(!valid("\xF5\x80\x80\x80"));
    CHECK(!valid("\xFE") && !valid("\xFF"));
    /* truncated sequences and lone continuations */
    CHECK(!valid("\xC3"));
    CHECK(!valid("\xE2\x9C"));
    CHECK(!valid("\xF0\x9F\x98"));
    CHECK(!valid("abc\xC3 def"));
    CHECK(!valid("\x80"));
    CHECK(!valid("\xBF\xBF"));
    /* NUL is valid UTF-8 (a control character, refused elsewhere) */
    CHECK(kc_utf8_valid("a\0b", 3, &chars, NULL) && chars == 3);

    CHECK(!kc_utf8_valid("Jos\xC3", 4, NULL, &bad) && bad == 3);
    CHECK(kc_utf8_decode((const unsigned char *)"\xE2\x82\xAC", 3, &len) == 0x20AC && len == 3);
    CHECK(kc_utf8_decode((const unsigned char *)"\xE2\x82\xAC", 2, &len) == -1 && len == 1);

    CHECK(kc_utf8_is_control(0) && kc_utf8_is_control('\t') && kc_utf8_is_control(0x1F));
    CHECK(kc_utf8_is_control(0x7F) && kc_utf8_is_control(0x85) && kc_utf8_is_control(0x9F));
    CHECK(!kc_utf8_is_control(' ') && !kc_utf8_is_control(0xA0) && !kc_utf8_is_control(0x2028));
    return CTEST_END();
}
