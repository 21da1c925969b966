/* The engine's own threads: a small pool of workers that split a batch between them (one level
 * of parallelism at a time: while they run, OpenBLAS runs one thread in each of them).
 *
 * eng_set_threads(n) sizes the pool (n - 1 workers besides the calling thread) and gives
 * OpenBLAS n threads for the work that is not split (a model the engine cannot split, a GEMM
 * called outside a model). eng_parallel_run runs one task per thread and returns when all are
 * done; the caller's thread runs task 0. Not reentrant: a task may not call it. */
#ifndef ENGINE_PARALLEL_H
#define ENGINE_PARALLEL_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdint.h>

#include "error.h"

/* n in 1..ENG_MAX_THREADS. Starting threads can fail (ENG_ENOMEM, message names the count);
 * the pool then keeps its previous size. */
#define ENG_MAX_THREADS 64
ENG_MUST_CHECK eng_status eng_set_threads(int n);
int eng_threads(void);

/* Runs task(ctx, t, ntasks) for t = 0 .. ntasks-1, each on its own thread, t = 0 on the
 * caller's; ntasks <= eng_threads(). Sets OpenBLAS to one thread (and leaves it there: a
 * thread count that changes at every call would wake and park OpenBLAS's own threads). */
typedef void (*eng_task_fn)(void *ctx, int t, int ntasks);
void eng_parallel_run(int ntasks, eng_task_fn task, void *ctx);

/* Task t's share of n items split into ntasks contiguous ranges: [*start, *start + *length).
 * The model's batch split and the optimizers' element split both use it, so that a thread
 * updates the gradient elements it just summed. */
static inline void eng_parallel_share(int64_t n, int t, int ntasks, int64_t *start, int64_t *length)
{
    *start = n * t / ntasks;
    *length = n * (t + 1) / ntasks - *start;
}

/* Gives OpenBLAS all eng_threads() threads again, for work that is not split (a model's
 * serial path). */
void eng_blas_use_all_threads(void);

#pragma GCC visibility pop

#endif
