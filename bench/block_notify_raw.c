// SPDX-License-Identifier: MIT
/* block_notify_raw: block_notify.c, blocks no hook sees; see there. */
#define BLOCK_NOTIFY_RAW 1
#include "block_notify.c"
