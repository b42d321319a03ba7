/* SPDX-License-Identifier: MIT
** Placeholder being replaced by the zip work in progress.
*/
#include "kiva_core.h"

void kc_zip_open(lua_State *L)
{
    (void)L;
}
