/* SPDX-License-Identifier: MIT
** Exact number text: the shortest decimal that reads back as the same double,
** its count of decimals, and its value as an exact integer at a decimal scale.
*/
#ifndef KIVA_NUMFMT_H
#define KIVA_NUMFMT_H

#include <stddef.h>

#define KC_NUM_MAX 32

/* Writes the shortest decimal text of a finite x that strtod reads back as x
** (480.5, never 480.49999999; 100, not 1e+02), always with '.' as the decimal point.
** Returns its length; out must hold KC_NUM_MAX bytes. */
int kc_num_shortest(double x, char *out);

/* x as *digits / 10^*decimals exactly, the digits and decimals of its shortest
** text, when x has at most 6 decimals and fewer than 15 digits (everyday amounts):
** 0; else -1 (then only the text tells). */
int kc_num_decimal(double x, long long *digits, int *decimals);

/* The same text by the general path only (printf/strtod); for tests. */
int kc_num_shortest_exact(double x, char *out);

/* Decimals of that shortest text (0.125 -> 3, 1e-07 -> 7, 1e+21 -> 0). */
int kc_num_decimals(double x);

/* x * 10^scale exactly, if x has at most `scale` decimals and fits in int64:
** returns 0 and sets *out; -1 if it has more decimals; -2 if too large. */
int kc_num_scaled(double x, int scale, long long *out);

/* The same two, on a text kc_num_shortest wrote (to format once). */
int kc_num_text_decimals(const char *text);
int kc_num_text_scaled(const char *text, int scale, long long *out);

#endif
