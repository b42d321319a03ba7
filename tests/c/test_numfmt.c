/* SPDX-License-Identifier: MIT
** numfmt.c: shortest exact number text, decimals and exact scaling, as used
** for amounts (480.5, never 480.49999999) and minor-unit totals. */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctest.h"
#include "numfmt.h"

static int shortest_is(double x, const char *want)
{
    char out[KC_NUM_MAX];
    kc_num_shortest(x, out);
    return strcmp(out, want) == 0;
}

/* The fast path for short decimals writes what the general path writes, and
** kc_num_decimal's digits and decimals are that text's (rules.c totals with them). */
static int paths_agree(double x)
{
    char a[KC_NUM_MAX], b[KC_NUM_MAX];
    long long digits, scaled;
    int decimals;
    kc_num_shortest(x, a);
    kc_num_shortest_exact(x, b);
    if (strcmp(a, b) != 0)
        fprintf(stderr, "%.17g: fast %s, exact %s\n", x, a, b);
    if (kc_num_decimal(x, &digits, &decimals) == 0
        && (decimals != kc_num_text_decimals(b) || kc_num_text_scaled(b, decimals, &scaled) != 0
            || scaled != digits)) {
        fprintf(stderr, "%.17g: %lld / 10^%d, text %s\n", x, digits, decimals, b);
        return 0;
    }
    return strcmp(a, b) == 0;
}

int main(void)
{
    long long v = 0;
    unsigned long long seed = 88172645463325252ULL;
    int i, agree = 1;

    for (i = 0; i < 200000; i++) {
        double x;
        uint64_t bits;
        seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
        switch (i % 4) {
        case 0: x = (double)(long long)(seed % 100000000000ULL) / 100; break;      /* cents */
        case 1: x = (double)(long long)(seed % 1000000000ULL) / 1000 * -1; break; /* mils, negative */
        case 2: x = (double)(seed % 1000000000000000ULL) / 1e6; break;              /* up to 6 decimals */
        default:
            bits = seed;
            memcpy(&x, &bits, sizeof x);
            if (!isfinite(x)) x = 1.5;
        }
        agree &= paths_agree(x);
    }
    CHECK(agree);
    CHECK(paths_agree(0.05) && paths_agree(-0.001) && paths_agree(999999999999999.0) && paths_agree(1e15));
    CHECK(paths_agree(0.1 + 0.2) && paths_agree(1e-6) && paths_agree(123456.789012));

    CHECK(shortest_is(480.5, "480.5"));
    CHECK(shortest_is(4805.0 / 10, "480.5"));
    CHECK(shortest_is(0.1, "0.1"));
    CHECK(shortest_is(0.1 + 0.2, "0.30000000000000004"));
    CHECK(shortest_is(100.0, "100"));
    CHECK(shortest_is(-2.5, "-2.5"));
    CHECK(shortest_is(1e21, "1e+21"));
    CHECK(shortest_is(123456789012345680000.0, "123456789012345680000"));
    CHECK(shortest_is(1e-7, "0.0000001"));
    CHECK(shortest_is(1.5e-8, "1.5e-08"));
    CHECK(shortest_is(5e-324, "5e-324"));
    CHECK(shortest_is(1.7976931348623157e308, "1.7976931348623157e+308"));
    CHECK(shortest_is(83.39, "83.39"));

    {
        long long digits;
        int decimals;
        CHECK(kc_num_decimal(187.55, &digits, &decimals) == 0 && digits == 18755 && decimals == 2);
        CHECK(kc_num_decimal(-0.5, &digits, &decimals) == 0 && digits == -5 && decimals == 1);
        CHECK(kc_num_decimal(-0.0, &digits, &decimals) == 0 && digits == 0 && decimals == 0);
        CHECK(kc_num_decimal(2.5e-7, &digits, &decimals) == -1);   /* 7 decimals: the text's work */
        CHECK(kc_num_decimal(1e15, &digits, &decimals) == -1);
        CHECK(kc_num_decimal(0.1 + 0.2, &digits, &decimals) == -1);
    }
    CHECK(kc_num_decimals(480.5) == 1);
    CHECK(kc_num_decimals(0.125) == 3);
    CHECK(kc_num_decimals(1000.0) == 0);
    CHECK(kc_num_decimals(1e-7) == 7);
    CHECK(kc_num_decimals(1e21) == 0);
    CHECK(kc_num_decimals(0.1 + 0.2) == 17);

    CHECK(kc_num_scaled(480.5, 2, &v) == 0 && v == 48050);
    CHECK(kc_num_scaled(0.1, 2, &v) == 0 && v == 10);
    CHECK(kc_num_scaled(-12.25, 2, &v) == 0 && v == -1225);
    CHECK(kc_num_scaled(1000.0, 0, &v) == 0 && v == 1000);
    CHECK(kc_num_scaled(480.125, 2, &v) == -1);
    CHECK(kc_num_scaled(1e30, 2, &v) == -2);

    /* a decimal-comma locale must not leak into JSON */
    if (setlocale(LC_NUMERIC, "fr_FR.UTF-8") || setlocale(LC_NUMERIC, "de_DE.UTF-8")) {
        CHECK(shortest_is(480.5, "480.5"));
        CHECK(kc_num_scaled(480.5, 2, &v) == 0 && v == 48050);
        setlocale(LC_NUMERIC, "C");
    }
    return CTEST_END();
}
