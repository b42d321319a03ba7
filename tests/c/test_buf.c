/* SPDX-License-Identifier: MIT
** buf.c: growth, cap, and that a failed append keeps the old contents. */
#include <string.h>

#include "ctest.h"
#include "buf.h"

int main(void)
{
    kc_buf b;
    int i, failures = 0;
    kc_buf_init(&b, 0);
    for (i = 0; i < 10000; i++)
        failures += kc_buf_addc(&b, (char)('a' + i % 26)) != 0;
    CHECK(failures == 0);
    CHECK(b.len == 10000 && b.data[9999] == 'a' + 9999 % 26 && b.data[10000] == '\0');
    kc_buf_free(&b);

    kc_buf_init(&b, 8);
    CHECK(kc_buf_adds(&b, "12345678") == 0);
    CHECK(kc_buf_addc(&b, '9') == -1);
    CHECK(b.len == 8 && memcmp(b.data, "12345678", 8) == 0);
    kc_buf_reset(&b);
    CHECK(b.len == 0 && kc_buf_adds(&b, "abc") == 0);
    kc_buf_free(&b);
    return CTEST_END();
}
