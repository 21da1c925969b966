/* A fork-join pool: the caller publishes a task under a generation counter; workers wait for a
 * new generation (spinning briefly, then on a condition variable, so that idle workers leave
 * the cores to OpenBLAS and to other processes), run their share and count down. A training
 * step enters the pool twice (forward, backward), so a wake-up costing microseconds is
 * immaterial against steps of milliseconds. */
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/gemm.h"

/* About 20-50 microseconds of polling before sleeping: covers the gap between the forward and
 * backward of one step without holding a core through longer serial stretches. */
#define SPIN_ITERATIONS 20000

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t threads[ENG_MAX_THREADS];
    int nthreads; /* threads in all, the caller's included */
    int nstarted; /* workers started (they are never stopped) */
    atomic_uint generation;
    atomic_int pending; /* threads (all started workers and the caller) yet to finish the
                         * current generation: every worker acknowledges every generation,
                         * running a task or not, so none can read the next one's fields */
    unsigned start_generation[ENG_MAX_THREADS]; /* the generation current when each started */
    int ntasks;
    eng_task_fn task;
    void *ctx;
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
    .nthreads = 1,
};

static void finish_one(void)
{
    if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_signal(&pool.done);
        pthread_mutex_unlock(&pool.lock);
    }
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned seen = pool.start_generation[id];
    for (;;) {
        unsigned now = seen;
        for (int i = 0; i < SPIN_ITERATIONS; i++) {
            now = atomic_load_explicit(&pool.generation, memory_order_acquire);
            if (now != seen)
                break;
        }
        if (now == seen) {
            pthread_mutex_lock(&pool.lock);
            while ((now = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = now;
        if (id < pool.ntasks)
            pool.task(pool.ctx, id, pool.ntasks);
        finish_one();
    }
    return NULL;
}

eng_status eng_set_threads(int n)
{
    if (n < 1 || n > ENG_MAX_THREADS)
        return eng_error(ENG_EARG, "thread count %d (1..%d expected)", n, ENG_MAX_THREADS);
    pthread_mutex_lock(&pool.lock);
    while (pool.nstarted < n - 1) {
        int id = pool.nstarted + 1;
        pool.start_generation[id] = atomic_load_explicit(&pool.generation, memory_order_relaxed);
        if (pthread_create(&pool.threads[pool.nstarted], NULL, worker_main, (void *)(intptr_t)id) !=
            0) {
            pthread_mutex_unlock(&pool.lock);
            return eng_error(ENG_ENOMEM, "could not start thread %d of %d", id + 1, n);
        }
        pthread_detach(pool.threads[pool.nstarted]);
        pool.nstarted++;
    }
    pool.nthreads = n;
    pthread_mutex_unlock(&pool.lock);
    eng_blas_set_threads(n);
    return ENG_OK;
}

int eng_threads(void)
{
    return pool.nthreads;
}

void eng_parallel_run(int ntasks, eng_task_fn task, void *ctx)
{
    if (ntasks > pool.nthreads)
        ntasks = pool.nthreads;
    if (ntasks <= 1) {
        task(ctx, 0, 1);
        return;
    }
    eng_blas_set_threads(1);
    pool.task = task;
    pool.ctx = ctx;
    pool.ntasks = ntasks;
    atomic_store_explicit(&pool.pending, pool.nstarted + 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    task(ctx, 0, ntasks);
    finish_one();
    for (int i = 0; i < SPIN_ITERATIONS; i++)
        if (atomic_load_explicit(&pool.pending, memory_order_acquire) == 0)
            break;
    pthread_mutex_lock(&pool.lock);
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) != 0)
        pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

void eng_blas_use_all_threads(void)
{
    eng_blas_set_threads(pool.nthreads);
}
