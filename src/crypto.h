/* SPDX-License-Identifier: MIT
**
** Internal: what crypto.c shares with the other C files that hash (checker.c).
*/
#ifndef KIVA_CRYPTO_H
#define KIVA_CRYPTO_H

#include <stddef.h>

#include <openssl/evp.h>

#include "kiva_core.h"

/* This Lua state's SHA-256, fetched once by kc_crypto_open and kept alive by the
** registry (EVP_sha256() if that fetch failed). */
const EVP_MD *kc_crypto_sha256(lua_State *L);
/* Lower-case hex of n bytes into out: 2n chars, no NUL. */
void kc_hex(const unsigned char *p, size_t n, char *out);

#endif
