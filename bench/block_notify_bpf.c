// SPDX-License-Identifier: MIT
/* block_notify_bpf: block_notify.c with BPF detection; see there. */
#define BLOCK_NOTIFY_BPF 1
#include "block_notify.c"
