/* SPDX-License-Identifier: MIT
**
** ISO 4217 currency codes in circulation with their minor units (decimals), as
** published by the ISO 4217 maintenance agency (list of 2024-2025, including ZWG
** and XCG). Fund and metal codes without a minor unit (XAU, XDR, ...) are left
** out: no loan is made in them. Read-only table, binary search.
*/
#include <stdlib.h>
#include <string.h>

#include "currency.h"

typedef struct { char code[4]; int minor; } kc_currency;

static const kc_currency currencies[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2},
    {"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2},
    {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2},
    {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2},
    {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2},
    {"COU", 2}, {"CRC", 2}, {"CUC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0},
    {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2},
    {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2},
    {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2},
    {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2},
    {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2},
    {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2},
    {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2},
    {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2},
    {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2},
    {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2},
    {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2},
    {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2},
    {"SGD", 2}, {"SHP", 2}, {"SLE", 2}, {"SLL", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2},
    {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2},
    {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2},
    {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2},
    {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2},
    {"XCG", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
    {"ZWL", 2},
};

static int compare_code(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const kc_currency *)elem)->code);
}

int kc_currency_minor(const char *code, size_t len)
{
    char key[4];
    const kc_currency *c;
    if (len != 3)
        return -1;
    memcpy(key, code, 3);
    key[3] = '\0';
    c = bsearch(key, currencies, sizeof currencies / sizeof currencies[0],
                sizeof currencies[0], compare_code);
    return c ? c->minor : -1;
}

/* Rough units of a currency per US dollar (orders of magnitude of 2025 rates), for
** the "very large amount" warning only: never for a conversion. Currencies of the
** countries Kiva's field partners lend in; others are not judged. Sorted by code. */
typedef struct { char code[4]; double per_usd; } kc_rate;

static const kc_rate rates[] = {
    {"AMD", 390}, {"BDT", 120}, {"BIF", 2900}, {"BOB", 6.9}, {"BRL", 5.5}, {"BZD", 2},
    {"CDF", 2800}, {"CLP", 950}, {"COP", 4000}, {"CRC", 510}, {"DOP", 60}, {"EGP", 49},
    {"ETB", 120}, {"EUR", 0.92}, {"FJD", 2.25}, {"GEL", 2.7}, {"GHS", 12}, {"GNF", 8600},
    {"GTQ", 7.7}, {"HNL", 25}, {"HTG", 132}, {"IDR", 16000}, {"INR", 84}, {"JOD", 0.71},
    {"KES", 130}, {"KGS", 87}, {"KHR", 4050}, {"LAK", 21800}, {"LBP", 89500}, {"LRD", 190},
    {"MDL", 18}, {"MGA", 4600}, {"MMK", 2100}, {"MNT", 3400}, {"MWK", 1730}, {"MXN", 18},
    {"MZN", 64}, {"NGN", 1500}, {"NIO", 36.7}, {"NPR", 135}, {"PEN", 3.75}, {"PGK", 4},
    {"PHP", 56}, {"PKR", 280}, {"PYG", 7500}, {"RWF", 1350}, {"SBD", 8.4}, {"SLE", 22.5},
    {"SOS", 570}, {"TJS", 10.9}, {"TOP", 2.35}, {"TRY", 34}, {"TZS", 2600}, {"UAH", 41},
    {"UGX", 3700}, {"USD", 1}, {"UZS", 12800}, {"VND", 25000}, {"WST", 2.8}, {"XAF", 600},
    {"XOF", 600}, {"YER", 250}, {"ZAR", 18}, {"ZMW", 27},
};

static int compare_rate(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const kc_rate *)elem)->code);
}

double kc_currency_per_usd(const char *code, size_t len)
{
    char key[4];
    const kc_rate *r;
    if (len != 3)
        return 0;
    memcpy(key, code, 3);
    key[3] = '\0';
    r = bsearch(key, rates, sizeof rates / sizeof rates[0], sizeof rates[0], compare_rate);
    return r ? r->per_usd : 0;
}
