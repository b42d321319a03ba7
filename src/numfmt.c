/* SPDX-License-Identifier: MIT
**
** Shortest round-trip decimal text for doubles (the smallest precision 1..17
** whose text strtod reads back exactly, written plainly for exponents -7..20),
** independent of the C locale's decimal point. Amount rules and the canonical encoder both use it so
** a value's decimals are judged on the same text that is sent. No Lua.
*/
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

/* Fast path for everyday amounts: the fewest decimals k <= 6 such that the
** decimal round(x * 10^k) / 10^k reads back as x. Below 1e15 / 10^k, one ulp of x
** is under a quarter of 10^-k, so that decimal is the only one with k decimals
** that reads back, and it is the shortest text: the same the slow path writes. */
int kc_num_decimal(double x, long long *digits, int *decimals)
{
    /* y + 1.5 * 2^52 - 1.5 * 2^52 is y rounded to an integer, ties to even, for
    ** |y| < 2^51: nearbyint's result in the default rounding mode without its
    ** call into libm, which cost more than the rest of this function */
    const double magic = 6755399441055744.0;
    double p = 1, y, r = 0;
    int k;

    for (k = 0; k <= 6; k++, p *= 10) {
        y = x * p;
        if (!(fabs(y) < 2251799813685248.0))   /* 2^51 (also NaN); r would be >= 1e15 */
            return -1;
        r = (y + magic) - magic;
        if (!(fabs(r) < 1e15))
            return -1;
        if (r / p == x && (r != 0 || x == 0))
            break;
    }
    if (k > 6)
        return -1;
    *digits = (long long)r;
    *decimals = k;
    return 0;
}

static int fast_decimal(double x, char *out)
{
    int k, n = 0, i;
    char digits[24];
    long long r, v;

    if (kc_num_decimal(x, &r, &k) != 0)
        return -1;
    v = r < 0 ? -r : r;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v > 0);
    while (n <= k) digits[n++] = '0';          /* 0.05: a leading zero */
    i = 0;
    if (r < 0) out[i++] = '-';
    while (n > 0) {
        out[i++] = digits[--n];
        if (n == k && k > 0) out[i++] = '.';
    }
    out[i] = '\0';
    return i;
}

int kc_num_shortest(double x, char *out)
{
    int n;
    if (!isfinite(x))   /* not JSON; written for messages only */
        return snprintf(out, KC_NUM_MAX, "%s", isnan(x) ? "nan" : x < 0 ? "-inf" : "inf");
    n = fast_decimal(x, out);
    return n >= 0 ? n : kc_num_shortest_exact(x, out);
}

int kc_num_shortest_exact(double x, char *out)
{
    char sci[KC_NUM_MAX], digits[KC_NUM_MAX], *p;
    int prec, nd = 0, e10, n = 0, i;

    /* Fewest significant digits that read back exactly. Any decimal of at most
    ** 15 digits (DBL_DIG) survives decimal -> double -> decimal, so if the
    ** 15-digit text reads back, the shortest is it without trailing zeros;
    ** otherwise it takes 16 or 17 digits. */
    for (prec = fabs(x) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {   /* subnormals: no such promise */
        snprintf(sci, sizeof sci, "%.*e", prec - 1, x);
        if (strtod(sci, NULL) == x)
            break;
    }
    p = strchr(sci, 'e');
    e10 = p ? atoi(p + 1) : 0;
    for (p = sci; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;   /* skips the sign and the locale's decimal point */
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    if (x < 0)
        out[n++] = '-';
    if (e10 < -7 || e10 >= 21) {
        /* exponent form: d[.ddd]e+XX */
        out[n++] = digits[0];
        if (nd > 1) {
            out[n++] = '.';
            for (i = 1; i < nd; i++) out[n++] = digits[i];
        }
        n += snprintf(out + n, KC_NUM_MAX - (size_t)n, "e%c%02d", e10 < 0 ? '-' : '+', e10 < 0 ? -e10 : e10);
        return n;
    }
    /* plain notation for everyday magnitudes (100, not 1e+02), as JavaScript does */
    if (e10 >= nd - 1) {
        for (i = 0; i < nd; i++) out[n++] = digits[i];
        for (i = 0; i < e10 - (nd - 1); i++) out[n++] = '0';
    } else if (e10 >= 0) {
        for (i = 0; i <= e10; i++) out[n++] = digits[i];
        out[n++] = '.';
        for (; i < nd; i++) out[n++] = digits[i];
    } else {
        out[n++] = '0';
        out[n++] = '.';
        for (i = 0; i < -e10 - 1; i++) out[n++] = '0';
        for (i = 0; i < nd; i++) out[n++] = digits[i];
    }
    out[n] = '\0';
    return n;
}

/* Splits a number text into digits (no point, no sign) and a power of ten:
** x = digits * 10^exp10. Returns the number of digits. */
static int split_decimal(const char *text, char *digits, int *exp10)
{
    const char *p = text;
    char *e;
    int nd = 0, frac = 0, seen_point = 0;
    long ex = 0;

    if (*p == '-')
        p++;
    for (; *p && *p != 'e'; p++) {
        if (*p == '.') { seen_point = 1; continue; }
        digits[nd++] = *p;
        if (seen_point) frac++;
    }
    digits[nd] = '\0';
    if (*p == 'e')
        ex = strtol(p + 1, &e, 10);
    *exp10 = (int)ex - frac;
    return nd;
}

int kc_num_decimals(double x)
{
    char text[KC_NUM_MAX];
    kc_num_shortest(x, text);
    return kc_num_text_decimals(text);
}

int kc_num_scaled(double x, int scale, long long *out)
{
    char text[KC_NUM_MAX];
    kc_num_shortest(x, text);
    return kc_num_text_scaled(text, scale, out);
}

int kc_num_text_decimals(const char *text)
{
    char digits[KC_NUM_MAX];
    int exp10, nd;
    nd = split_decimal(text, digits, &exp10);
    /* trailing zeros of the mantissa do not count as decimals */
    while (nd > 1 && digits[nd - 1] == '0' && exp10 < 0) { nd--; exp10++; }
    return exp10 < 0 ? -exp10 : 0;
}

int kc_num_text_scaled(const char *text, int scale, long long *out)
{
    char digits[KC_NUM_MAX];
    int exp10, i;
    long long v = 0;

    split_decimal(text, digits, &exp10);
    exp10 += scale;
    for (i = 0; digits[i]; i++) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, digits[i] - '0', &v))
            return -2;
    }
    for (; exp10 > 0; exp10--)
        if (__builtin_mul_overflow(v, 10, &v))
            return -2;
    for (; exp10 < 0; exp10++) {
        if (v % 10 != 0)
            return -1;
        v /= 10;
    }
    *out = text[0] == '-' ? -v : v;
    return 0;
}
