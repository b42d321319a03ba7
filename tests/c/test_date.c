/* SPDX-License-Identifier: MIT
** date.c and currency.c: real calendar dates (leap years) and ISO 4217 minor units. */
#include <string.h>

#include "ctest.h"
#include "currency.h"
#include "date.h"

static int date_ok(const char *s)
{
    long key;
    return kc_date_parse(s, strlen(s), &key);
}

int main(void)
{
    long a = 0, b = 0;

    CHECK(date_ok("2024-01-31") && date_ok("2024-02-29") && date_ok("2000-02-29"));
    CHECK(date_ok("0001-01-01") && date_ok("9999-12-31"));
    CHECK(!date_ok("2023-02-29") && !date_ok("1900-02-29") && !date_ok("2100-02-29"));
    CHECK(!date_ok("2024-04-31") && !date_ok("2024-06-31") && !date_ok("2024-00-10"));
    CHECK(!date_ok("2024-13-01") && !date_ok("2024-01-00") && !date_ok("2024-01-32"));
    CHECK(!date_ok("0000-01-01") && !date_ok("2024-1-01") && !date_ok("2024/01/01"));
    CHECK(!date_ok("2024-01-01T00:00:00Z") && !date_ok("") && !date_ok("+024-01-01"));
    CHECK(kc_date_parse("2024-02-29", 10, &a) && kc_date_parse("2024-03-01", 10, &b) && a < b);

    CHECK(kc_currency_minor("USD", 3) == 2 && kc_currency_minor("PHP", 3) == 2);
    CHECK(kc_currency_minor("XOF", 3) == 0 && kc_currency_minor("UGX", 3) == 0);
    CHECK(kc_currency_minor("JPY", 3) == 0 && kc_currency_minor("VND", 3) == 0);
    CHECK(kc_currency_minor("JOD", 3) == 3 && kc_currency_minor("TND", 3) == 3);
    CHECK(kc_currency_minor("CLF", 3) == 4);
    CHECK(kc_currency_minor("XYZ", 3) == -1 && kc_currency_minor("usd", 3) == -1);
    CHECK(kc_currency_minor("USDX", 4) == -1 && kc_currency_minor("US", 2) == -1);
    CHECK(kc_currency_minor("AED", 3) == 2 && kc_currency_minor("ZWG", 3) == 2);
    return CTEST_END();
}
