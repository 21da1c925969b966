/* Which vector instructions the kernels may use: what the processor has (checked at run
 * time), capped by eng_simd_cap so that tests can run every body on one machine. */
#ifndef ENGINE_KERNELS_CPU_H
#define ENGINE_KERNELS_CPU_H

typedef enum eng_simd {
    ENG_SIMD_NONE = 0, /* plain C */
    ENG_SIMD_AVX2,     /* AVX2 and FMA */
    ENG_SIMD_AVX512,   /* AVX-512F */
} eng_simd;

/* The best level the processor offers, at most the cap. */
eng_simd eng_simd_level(void);
/* Caps the level (ENG_SIMD_AVX512: no cap, the default) and returns the previous cap. Set it
 * between computations, not while threads run kernels. */
eng_simd eng_simd_cap(eng_simd cap);

#endif
