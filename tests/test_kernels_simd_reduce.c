/* The f32 sums (eng_sum_f32, eng_sum_planes_f32; reduce.h) at every SIMD level the machine
 * has, against the definition summed here in long double: lengths that leave vector tails,
 * large and cancelling values. The sums accumulate in double, so they must agree to double
 * rounding of the terms' magnitudes (and the f32 plane sums, added into f32, to f32's). */
#include "support.h"

#include "kernels/cpu.h"
#include "kernels/reduce.h"

static const eng_simd levels[] = {ENG_SIMD_NONE, ENG_SIMD_AVX2, ENG_SIMD_AVX512};
#define LEVELS (sizeof levels / sizeof levels[0])

static void test_f32_sums_match_the_definition(void **state)
{
    (void)state;
    const int64_t lengths[] = {0, 1, 7, 15, 16, 17, 31, 32, 33, 49, 196, 784, 1001};
    float x[1002];
    eng_rng rng;
    eng_rng_seed(&rng, 3);
    for (int i = 0; i < 1002; i++) /* magnitudes 1e-3 to 1e5, both signs */
        x[i] = (float)((eng_rng_uniform(&rng) - 0.5) * pow(10, (i % 9) - 3));
    for (size_t l = 0; l < LEVELS; l++) {
        eng_simd old = eng_simd_cap(levels[l]);
        for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
            int64_t n = lengths[k];
            long double sum = 0, mag = 0;
            for (int64_t i = 0; i < n; i++)
                sum += x[i], mag += fabsl(x[i]);
            double got = eng_sum_f32(x + 1, n - (n > 0)) + (n > 0 ? x[0] : 0); /* unaligned */
            double whole = eng_sum_f32(x, n);
            /* recursive summation in double: at most (n - 1) roundings of 2^-53 of the magnitude */
            long double bound = 0x1p-53L * (long double)n * mag;
            assert_true(fabsl(whole - sum) <= bound);
            assert_true(fabsl(got - sum) <= bound);
        }
        /* planes: dbias [c] += the sum of plane c, 3 planes of 49 */
        float dbias[3] = {1, 2, 3};
        eng_sum_planes_f32(dbias, x, 3, 49);
        for (int c = 0; c < 3; c++) {
            long double sum = c + 1;
            for (int i = 0; i < 49; i++)
                sum += x[c * 49 + i];
            assert_true(fabsl(dbias[c] - sum) <= 1e-6L * fabsl(sum));
        }
        eng_simd_cap(old);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_sums_match_the_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
