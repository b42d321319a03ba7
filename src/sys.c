/* SPDX-License-Identifier: MIT
** Placeholder being replaced by the sys work in progress.
*/
#include "kiva_core.h"

void kc_sys_open(lua_State *L)
{
    (void)L;
}
