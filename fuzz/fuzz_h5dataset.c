/* The HDF5 dataset reader: open and check /train/x and /train/y, load them whole, and read
 * through the streaming reader. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".h5");
    fuzz_fix_header(path, data, size);
    eng_h5data *d;
    if (eng_h5data_open(path, "/train/x", "/train/y", &d) == ENG_OK) {
        eng_dataset ds = {0};
        if (eng_h5data_load(d, &ds) == ENG_OK)
            eng_dataset_free(&ds);
        eng_rng rng;
        eng_rng_seed(&rng, 1);
        eng_h5stream *s;
        if (eng_h5stream_new(d, true, 1 << 16, &rng, &s) == ENG_OK) {
            for (int i = 0; i < 4; i++) {
                eng_tensor *x = NULL, *y = NULL;
                eng_status st = eng_h5stream_next(s, 2, false, ENG_F32, 1.0, 0.0, 1.0, &x, &y);
                bool more = st == ENG_OK && x;
                eng_tensor_release(x);
                eng_tensor_release(y);
                if (!more)
                    break;
            }
            eng_h5stream_free(s);
        }
        eng_h5data_close(d);
    }
    unlink(path);
    return 0;
}
