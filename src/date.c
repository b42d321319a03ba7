/* SPDX-License-Identifier: MIT
**
** JSON Schema `format: "date"` (RFC 3339 full-date): exactly YYYY-MM-DD naming
** a day that exists, leap years included (2024-02-29 yes, 2100-02-29 no).
** No Lua.
*/
#include "date.h"

static int digits(const char *s, int n)
{
    int v = 0, i;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int kc_date_parse(const char *s, size_t n, long *key)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, d, max;

    if (n != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    y = digits(s, 4);
    m = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    max = days[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        max = 29;
    if (d > max)
        return 0;
    *key = (long)y * 10000 + m * 100 + d;
    return 1;
}

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar. */
long kc_date_days(long key)
{
    long y = key / 10000, m = key / 100 % 100, d = key % 100;
    long era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}
