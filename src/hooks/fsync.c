/* SPDX-License-Identifier: MIT */
/*
 * fsync, fdatasync: always declared as a block.
 *
 * They exist to wait for the disk (even with nothing dirty, most
 * filesystems commit a journal or flush a cache), there is no way to try
 * one without waiting, and the futex round trip of a declared block is
 * small next to the I/O it stands beside.
 */
#include <unistd.h>

#include "hook.h"

UMCG_REAL(fsync);
UMCG_REAL(fdatasync);

int fsync(int fd)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active())
		return REAL(fsync)(fd);
	return UMCG_BLOCKING(REAL(fsync)(fd));
}

int fdatasync(int fd)
{
	UMCG_HOOK_GUARD();
	if (!umcg_hook_active())
		return REAL(fdatasync)(fd);
	return UMCG_BLOCKING(REAL(fdatasync)(fd));
}
