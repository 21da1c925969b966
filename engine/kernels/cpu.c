#include "cpu.h"

static eng_simd cap = ENG_SIMD_AVX512;

eng_simd eng_simd_level(void)
{
    eng_simd level = ENG_SIMD_NONE;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f"))
        level = ENG_SIMD_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        level = ENG_SIMD_AVX2;
#endif
    return level < cap ? level : cap;
}

eng_simd eng_simd_cap(eng_simd new_cap)
{
    eng_simd old = cap;
    cap = new_cap;
    return old;
}
