/* The checkpoint loader: open (header, format, version, audit, layer list), the model built
 * from its config and its parameters read, the optimizer's settings, the generator, /meta. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".h5");
    fuzz_fix_header(path, data, size);
    eng_checkpoint *ck;
    if (eng_checkpoint_open(path, &ck) == ENG_OK) {
        eng_meta *meta = NULL, *info = NULL;
        eng_rng rng;
        if (eng_checkpoint_read_meta(ck, &meta) == ENG_OK)
            eng_meta_free(meta);
        if (eng_checkpoint_read_optimizer_info(ck, &info) == ENG_OK)
            eng_meta_free(info);
        if (eng_checkpoint_read_rng(ck, &rng) != ENG_OK) {
            /* a refused generator state is an outcome like any other */
        }
        eng_checkpoint_close(ck);
    }
    eng_model *model = NULL;
    if (eng_checkpoint_load_model(path, &model) == ENG_OK)
        eng_model_release(model);
    unlink(path);
    return 0;
}
