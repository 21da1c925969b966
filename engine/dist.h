/* Data-parallel training over MPI (Open MPI): every process holds the whole model, trains on
 * its part of each global batch, and the gradients are averaged over the processes before
 * each optimizer step, so every process takes the same step that one process would take on
 * the whole global batch.
 *
 * Built with the CMake option ENGINE_MPI (find_package(MPI)). Without it, or when the process
 * was not started by an MPI launcher (no OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the
 * environment), the engine is one process: rank 0 of 1, and every call below is the identity,
 * so the same script runs with and without mpirun. MPI is initialised on first use and
 * finalised by eng_dist_finalize (the host calls it at exit). */
#ifndef ENGINE_DIST_H
#define ENGINE_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

/* Traffic counters since the start (or the last eng_dist_stats_reset). */
typedef struct eng_dist_stats {
    int64_t allreduce_calls;  /* MPI_Allreduce calls (one per bucket) */
    int64_t allreduce_bytes;  /* bytes handed to MPI_Allreduce (per process) */
    double allreduce_seconds; /* wall time inside MPI_Allreduce, packing included */
    int64_t broadcast_bytes;
} eng_dist_stats;

/* Whether this build has MPI (ENGINE_MPI). */
bool eng_dist_compiled(void);
/* Initialises MPI when this process was started by an MPI launcher (once; later calls only
 * report). [out] *rank, *size (0 and 1 outside MPI). */
ENG_MUST_CHECK eng_status eng_dist_init(int *rank, int *size);
/* Copies the tensors of root into the same tensors of every other process (initial
 * parameters). Each tensor contiguous f32 or f64, the same shapes on every process. */
ENG_MUST_CHECK eng_status eng_dist_broadcast(eng_tensor *const *t, int n, int root);
/* Replaces each tensor by its mean over the processes (gradients), in buckets of at most
 * bucket_bytes (consecutive tensors of one dtype packed into one buffer per MPI_Allreduce;
 * a tensor larger than a bucket goes alone, in place). Contiguous f32 or f64 tensors. */
ENG_MUST_CHECK eng_status eng_dist_allreduce_mean(eng_tensor *const *t, int n, size_t bucket_bytes);
/* Waits until every process has called it. */
ENG_MUST_CHECK eng_status eng_dist_barrier(void);
/* [out] *stats: the counters; reset sets them to zero. */
void eng_dist_stats_get(eng_dist_stats *stats);
void eng_dist_stats_reset(void);
/* Finalises MPI if this process initialised it (safe to call more than once). */
void eng_dist_finalize(void);

#endif
