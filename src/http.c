/* SPDX-License-Identifier: MIT
** Placeholder being replaced by the http work in progress.
*/
#include "kiva_core.h"

void kc_http_open(lua_State *L)
{
    (void)L;
}
