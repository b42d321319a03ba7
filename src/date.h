/* SPDX-License-Identifier: MIT
** Calendar dates written YYYY-MM-DD (proleptic Gregorian, years 0001-9999).
*/
#ifndef KIVA_DATE_H
#define KIVA_DATE_H

#include <stddef.h>

/* If s[0..n) is exactly a real date, returns 1 and sets *key = y*10000+m*100+d
** (so keys compare like dates); else 0. */
int kc_date_parse(const char *s, size_t n, long *key);

/* Days from 1970-01-01 to the date of a key made by kc_date_parse. */
long kc_date_days(long key);

#endif
