/* The model-config parser (cJSON, then every kind's declared settings). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size + 1);
    if (!json)
        return 0;
    memcpy(json, data, size);
    json[size] = '\0';
    eng_dtype dtype;
    eng_layer_spec *specs = NULL;
    int n = 0;
    if (eng_model_config_parse(json, "fuzz", &dtype, &specs, &n) == ENG_OK)
        eng_layer_specs_free(specs, n);
    free(json);
    return 0;
}
