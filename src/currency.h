/* SPDX-License-Identifier: MIT
** ISO 4217: the minor unit (number of decimals) of a currency code.
*/
#ifndef KIVA_CURRENCY_H
#define KIVA_CURRENCY_H

#include <stddef.h>

/* Decimals of the 3-letter code code[0..len), or -1 if it is not a known code. */
int kc_currency_minor(const char *code, size_t len);

/* Rough units of the currency per US dollar (for warnings only), or 0 if unknown. */
double kc_currency_per_usd(const char *code, size_t len);

#endif
