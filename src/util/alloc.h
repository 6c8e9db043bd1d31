/*
** alloc.h — the one allocator policy of the library, set by each query
** (plan_open, and the distributed tasks that do not open a plan) and
** generation run (gen_run) for its own work, not by the programs that call
** it.
**
** The pipelines free and allocate buffers of megabytes all the time.  By
** default glibc gives every buffer past 128 KiB back to the kernel when it
** is freed and faults the next one in again, page by page (a Dask nanny's
** MALLOC_TRIM_THRESHOLD_ pins it so): QN at s=0.01 on two Dask workers took
** 6.5M page faults a worker that way and 141 s, against 0.8M and 45-55 s
** with buffers of up to 32 MiB taken from malloc's arenas and up to 128 MiB
** of free memory kept at their top; gen ran ~10% slower.  Under a memory
** limit the memory counts more than the faults: buffers past 1 MiB are
** mapped and unmapped, and no more than 8 MiB is kept free.  The setting is
** the process's: the last query to start sets it for all.
*/
#ifndef SJ_ALLOC_H
#define SJ_ALLOC_H

#include <malloc.h>
#include <stdint.h>

static inline void sj_alloc_policy(uint64_t memory_limit) {
#ifdef M_MMAP_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, memory_limit ? 1 << 20 : 32 << 20);
  mallopt(M_TRIM_THRESHOLD, memory_limit ? 8 << 20 : 128 << 20);
#else
  (void)memory_limit; /* not glibc: its own policy */
#endif
}

#endif
