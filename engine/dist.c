#include "dist.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"

#ifdef ENGINE_MPI
#include <mpi.h>
#endif

static struct {
    bool initialised, mpi; /* mpi: this process runs under MPI and initialised it */
    int rank, size;
    eng_dist_stats stats;
    void *buf;
    size_t cap;
} dist = {.size = 1};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool eng_dist_compiled(void)
{
#ifdef ENGINE_MPI
    return true;
#else
    return false;
#endif
}

static bool launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

eng_status eng_dist_init(int *rank, int *size)
{
    if (!dist.initialised) {
        dist.initialised = true;
#ifdef ENGINE_MPI
        int already = 0;
        MPI_Initialized(&already);
        if (launched_by_mpi() || already) {
            /* the engine's own threads never call MPI: FUNNELED is enough */
            int provided;
            if (!already &&
                MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
                return eng_error(ENG_ESTATE, "dist: MPI_Init_thread failed");
            dist.mpi = !already;
            MPI_Comm_rank(MPI_COMM_WORLD, &dist.rank);
            MPI_Comm_size(MPI_COMM_WORLD, &dist.size);
        }
#else
        (void)launched_by_mpi;
#endif
    }
    if (rank)
        *rank = dist.rank;
    if (size)
        *size = dist.size;
    return ENG_OK;
}

static eng_status check_tensors(eng_tensor *const *t, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        if (t[i]->dtype != ENG_F32 && t[i]->dtype != ENG_F64)
            return eng_error(ENG_EDTYPE, "dist.%s: tensor %d is %s (f32 or f64 expected)", what,
                             i + 1, eng_dtype_name(t[i]->dtype));
        if (!eng_tensor_is_contiguous(t[i]))
            return eng_error(ENG_EARG, "dist.%s: tensor %d is not contiguous", what, i + 1);
    }
    return ENG_OK;
}

eng_status eng_dist_broadcast(eng_tensor *const *t, int n, int root)
{
    eng_status st = eng_dist_init(NULL, NULL);
    if (!st)
        st = check_tensors(t, n, "broadcast");
    if (st)
        return st;
    if (root < 0 || root >= dist.size)
        return eng_error(ENG_EARG, "dist.broadcast: root %d is not a rank of 0..%d", root,
                         dist.size - 1);
#ifdef ENGINE_MPI
    if (dist.size > 1)
        for (int i = 0; i < n; i++) {
            int64_t count = eng_tensor_numel(t[i]);
            MPI_Datatype type = t[i]->dtype == ENG_F64 ? MPI_DOUBLE : MPI_FLOAT;
            if (count > 0 && MPI_Bcast(eng_tensor_data(t[i]), (int)count, type, root,
                                       MPI_COMM_WORLD) != MPI_SUCCESS)
                return eng_error(ENG_EIO, "dist.broadcast: MPI_Bcast of tensor %d failed", i + 1);
            dist.stats.broadcast_bytes += count * (int64_t)eng_dtype_size(t[i]->dtype);
        }
#endif
    return ENG_OK;
}

#ifdef ENGINE_MPI
/* One MPI_Allreduce over tensors [first, last) of one dtype, packed unless there is one. */
static eng_status reduce_bucket(eng_tensor *const *t, int first, int last, size_t bytes)
{
    eng_dtype dtype = t[first]->dtype;
    size_t esize = eng_dtype_size(dtype);
    MPI_Datatype type = dtype == ENG_F64 ? MPI_DOUBLE : MPI_FLOAT;
    void *buf = eng_tensor_data(t[first]);
    if (last - first > 1) {
        if (bytes > dist.cap) {
            void *p = realloc(dist.buf, bytes);
            if (!p)
                return eng_error(ENG_ENOMEM,
                                 "dist.allreduce: out of memory for a %zu-byte "
                                 "bucket",
                                 bytes);
            dist.buf = p;
            dist.cap = bytes;
        }
        buf = dist.buf;
        size_t at = 0;
        for (int i = first; i < last; i++) {
            size_t nb = (size_t)eng_tensor_numel(t[i]) * esize;
            memcpy((char *)buf + at, eng_tensor_data(t[i]), nb);
            at += nb;
        }
    }
    if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)(bytes / esize), type, MPI_SUM, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        return eng_error(ENG_EIO, "dist.allreduce: MPI_Allreduce failed");
    dist.stats.allreduce_calls++;
    dist.stats.allreduce_bytes += (int64_t)bytes;
    /* the mean: the sum over the processes times 1/size, written back into each tensor */
    size_t at = 0;
    for (int i = first; i < last; i++) {
        int64_t count = eng_tensor_numel(t[i]);
        void *src = (char *)buf + at, *dst = eng_tensor_data(t[i]);
        if (dtype == ENG_F64) {
            const double *s = src, inv = 1.0 / dist.size;
            double *d = dst;
            for (int64_t k = 0; k < count; k++)
                d[k] = s[k] * inv;
        } else {
            const float *s = src, inv = 1.0f / (float)dist.size;
            float *d = dst;
            for (int64_t k = 0; k < count; k++)
                d[k] = s[k] * inv;
        }
        at += (size_t)count * esize;
    }
    return ENG_OK;
}
#endif

eng_status eng_dist_allreduce_mean(eng_tensor *const *t, int n, size_t bucket_bytes)
{
    eng_status st = eng_dist_init(NULL, NULL);
    if (!st)
        st = check_tensors(t, n, "allreduce");
    if (st || dist.size == 1)
        return st;
#ifdef ENGINE_MPI
    double start = now();
    for (int first = 0; first < n && !st;) {
        size_t esize = eng_dtype_size(t[first]->dtype);
        size_t bytes = (size_t)eng_tensor_numel(t[first]) * esize;
        int last = first + 1;
        while (last < n && t[last]->dtype == t[first]->dtype &&
               bytes + (size_t)eng_tensor_numel(t[last]) * esize <= bucket_bytes) {
            bytes += (size_t)eng_tensor_numel(t[last]) * esize;
            last++;
        }
        if (bytes > 0)
            st = reduce_bucket(t, first, last, bytes);
        first = last;
    }
    dist.stats.allreduce_seconds += now() - start;
#else
    (void)bucket_bytes;
    (void)now;
#endif
    return st;
}

eng_status eng_dist_barrier(void)
{
    eng_status st = eng_dist_init(NULL, NULL);
#ifdef ENGINE_MPI
    if (!st && dist.size > 1 && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
        return eng_error(ENG_EIO, "dist.barrier: MPI_Barrier failed");
#endif
    return st;
}

void eng_dist_stats_get(eng_dist_stats *stats)
{
    *stats = dist.stats;
}

void eng_dist_stats_reset(void)
{
    memset(&dist.stats, 0, sizeof dist.stats);
}

void eng_dist_finalize(void)
{
#ifdef ENGINE_MPI
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (dist.mpi && !finalized)
        MPI_Finalize();
#endif
    dist.mpi = false;
    free(dist.buf);
    dist.buf = NULL;
    dist.cap = 0;
}
