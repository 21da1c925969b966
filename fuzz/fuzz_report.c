/* The saved gradient-check report reader (eng_gc_report_load: the checkpoint, then every field
 * of /meta/gradcheck) and the replay of what it read (eng_gc_replay), as gradcheck.replay.
 *
 * Two kinds of input. A file (it starts with the engine's header): fuzzed as the other HDF5
 * harnesses do. Byte mutations of /meta are nearly all refused by its attributes' CRC-32,
 * so the fields themselves are reached through the second kind: JSON (it starts with '{'),
 * the /meta tree of a report, which is written with valid checksums beside a fixed model
 * (Linear(4, 3), ReLU, Linear(3, 2), f64) and then loaded and replayed. In it objects are
 * tables, integral numbers integers and others numbers (1e999 is inf), arrays of numbers
 * lists (an element "nan" is a NaN), other arrays tables keyed "1", "2", ... */
#include <cjson/cJSON.h>
#include <math.h>

#include "fuzz_common.h"
#include "gradcheck/report_io.h"

static eng_status meta_from_json(eng_meta *t, const char *key, const cJSON *j, int depth);

static eng_status add_array(eng_meta *t, const char *key, const cJSON *j, int depth)
{
    int n = cJSON_GetArraySize(j), k = 0;
    bool numbers = n > 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) numbers = numbers && (cJSON_IsNumber(e) || cJSON_IsString(e));
    if (numbers) {
        double *v = malloc(sizeof *v * (size_t)n);
        if (!v)
            return ENG_ENOMEM;
        cJSON_ArrayForEach(e, j) v[k++] = cJSON_IsNumber(e) ? e->valuedouble : NAN;
        eng_status st = eng_meta_add_numbers(t, key, v, n);
        free(v);
        return st;
    }
    eng_meta *sub;
    eng_status st = eng_meta_add(t, key, ENG_META_TABLE, &sub);
    cJSON_ArrayForEach(e, j)
    {
        char name[16];
        snprintf(name, sizeof name, "%d", ++k);
        if (!st)
            st = meta_from_json(sub, name, e, depth + 1);
    }
    return st;
}

static eng_status meta_from_json(eng_meta *t, const char *key, const cJSON *j, int depth)
{
    if (depth > 12)
        return ENG_EFORMAT;
    if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        return v == floor(v) && fabs(v) < 9e15 ? eng_meta_add_integer(t, key, (int64_t)v)
                                               : eng_meta_add_number(t, key, v);
    }
    if (cJSON_IsBool(j))
        return eng_meta_add_boolean(t, key, cJSON_IsTrue(j));
    if (cJSON_IsString(j))
        return eng_meta_add_string(t, key, j->valuestring);
    if (cJSON_IsArray(j))
        return add_array(t, key, j, depth);
    if (!cJSON_IsObject(j))
        return ENG_EFORMAT;
    eng_meta *sub = t;
    eng_status st = key ? eng_meta_add(t, key, ENG_META_TABLE, &sub) : ENG_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        if (!st)
            st = meta_from_json(sub, e->string, e, depth + 1);
    }
    return st;
}

static eng_model *fixed_model(void)
{
    static eng_model *model;
    eng_layer *l[3] = {NULL};
    if (model)
        return model;
    if (eng_model_new(&model) || eng_linear_new(4, 3, true, ENG_F64, NULL, &l[0]) ||
        eng_relu_new(&l[1]) || eng_linear_new(3, 2, true, ENG_F64, NULL, &l[2]))
        abort();
    for (int i = 0; i < 3; i++) {
        if (eng_model_add(model, l[i]))
            abort();
        eng_layer_release(l[i]);
    }
    return model;
}

/* The JSON input as a report file at path; false when it is not one the writer accepts. */
static bool write_json_report(const char *path, const uint8_t *data, size_t size)
{
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    eng_meta *meta = NULL;
    eng_checkpoint *ck = NULL;
    eng_status st = j && cJSON_IsObject(j) ? eng_meta_new(&meta) : ENG_EFORMAT;
    if (!st)
        st = meta_from_json(meta, NULL, j, 0);
    if (!st)
        st = eng_checkpoint_create(path, &ck);
    if (!st)
        st = eng_checkpoint_write_model(ck, fixed_model());
    if (!st)
        st = eng_checkpoint_write_meta(ck, meta);
    if (!st) {
        st = eng_checkpoint_commit(ck);
        ck = NULL;
    }
    eng_checkpoint_close(ck);
    eng_meta_free(meta);
    cJSON_Delete(j);
    return st == ENG_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".h5");
    if (size && data[0] == '{') {
        if (!write_json_report(path, data, size)) {
            unlink(path);
            return 0;
        }
    } else {
        fuzz_fix_header(path, data, size);
    }
    eng_gc_saved_report *saved = NULL;
    if (eng_gc_report_load(path, NULL, &saved) == ENG_OK) {
        eng_gc_report *r = NULL;
        if (eng_gc_replay(saved, &r) == ENG_OK)
            eng_gc_report_free(r);
        eng_gc_saved_report_free(saved);
    }
    unlink(path);
    return 0;
}
