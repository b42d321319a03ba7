/* SPDX-License-Identifier: MIT
** Placeholder being replaced by the schema work in progress.
*/
#include "kiva_core.h"

void kc_schema_open(lua_State *L)
{
    (void)L;
}
