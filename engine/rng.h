/* Seedable random generator (xoshiro256**, Blackman and Vigna 2018). Its whole state is four
 * 64-bit words so that a checkpoint can save and restore it exactly. */
#ifndef ENGINE_RNG_H
#define ENGINE_RNG_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdint.h>

typedef struct eng_rng {
    uint64_t s[4];
} eng_rng;

/* Seeds the state from one number through splitmix64, so that nearby seeds give unrelated
 * streams. */
void eng_rng_seed(eng_rng *rng, uint64_t seed);

uint64_t eng_rng_next(eng_rng *rng);

/* Uniform in [0, 1) with 53 random bits. */
double eng_rng_uniform(eng_rng *rng);

/* Standard normal (Box-Muller; one value per call, the second is discarded so that the state
 * alone determines the stream). */
double eng_rng_normal(eng_rng *rng);

/* Uniform integer in [0, n), without modulo bias. n > 0. */
uint64_t eng_rng_below(eng_rng *rng, uint64_t n);

/* The process-wide generator used when a caller passes none; engine.seed(n) reseeds it. */
eng_rng *eng_rng_global(void);

#pragma GCC visibility pop

#endif
