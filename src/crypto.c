/* SPDX-License-Identifier: MIT
** Placeholder being replaced by the crypto work in progress.
*/
#include "kiva_core.h"

void kc_crypto_open(lua_State *L)
{
    (void)L;
}
