/* Model configs nested too deep (issue 13's bar for the containers' nested configs): a JSON
 * config nested 100000 deep, and containers nested past ENG_CONTAINER_MAX_DEPTH, are refused
 * with one message naming the field path, never by overflowing the stack (cJSON stops at
 * CJSON_NESTING_LIMIT levels; the engine's builder recurses once per container level). The
 * depths in the messages are counted by hand from the JSON written here. */
#include "support.h"
#include "io/checkpoint_impl.h"
#include "model_container.h"

/* A config whose single layer is `levels` sequential containers around a ReLU:
 * sequential_1 (as a model names it) outermost, then s2 .. sN (short: the parameter names join
 * them) around relu_1. */
static char *nested_containers(int levels)
{
    const char *head = "{\"kind\":\"sequential\",\"dtype\":\"f32\",\"layers\":[";
    const char *open = "{\"name\":\"%s%d\",\"config\":{\"kind\":\"sequential\"},"
                       "\"children\":[[";
    const char *leaf = "{\"name\":\"relu_1\",\"config\":{\"kind\":\"relu\"}}";
    size_t size = strlen(head) + (size_t)levels * (strlen(open) + 16) + strlen(leaf) + 8;
    char *s = malloc(size), *p = s;
    assert_non_null(s);
    p += sprintf(p, "%s", head);
    for (int k = 1; k <= levels; k++)
        p += sprintf(p, open, k == 1 ? "sequential_" : "s", k);
    p += sprintf(p, "%s", leaf);
    for (int k = 0; k < levels; k++)
        p += sprintf(p, "]]}");
    sprintf(p, "]}");
    return s;
}

/* Opening brackets, then the same number closing, around `inner`, inside `head` .. `tail`. */
static char *nested_json(const char *head, const char *open, const char *inner, const char *close,
                         int levels, const char *tail)
{
    size_t size = strlen(head) + (size_t)levels * (strlen(open) + strlen(close)) + strlen(inner) +
                  strlen(tail) + 1;
    char *s = malloc(size), *p = s;
    assert_non_null(s);
    p += sprintf(p, "%s", head);
    for (int k = 0; k < levels; k++)
        p += sprintf(p, "%s", open);
    p += sprintf(p, "%s", inner);
    for (int k = 0; k < levels; k++)
        p += sprintf(p, "%s", close);
    sprintf(p, "%s", tail);
    return s;
}

static void expect_refused(const char *json, const char *fragment)
{
    eng_dtype dtype;
    eng_layer_spec *specs = NULL;
    int n = -1;
    assert_error(eng_model_config_parse(json, "deep.h5", &dtype, &specs, &n), ENG_EFORMAT,
                 "deep.h5: model_config", fragment);
    assert_null(specs);
    assert_int_equal(n, 0);
}

static void test_json_nested_100000_deep_is_refused_with_its_depth(void **state)
{
    (void)state;
    const char *head = "{\"kind\":\"sequential\",\"dtype\":\"f32\",\"layers\":";
    /* the root object, then 100000 + 1 arrays (the layers list is the first) */
    char *arrays = nested_json(head, "[", "", "]", 100001, "}");
    expect_refused(arrays, "nested 100002 deep (JSON arrays and objects, at most 1000)");
    free(arrays);
    /* root, layers, the entry, its config, then 100000 objects as a setting's value */
    char *objects = nested_json("{\"kind\":\"sequential\",\"dtype\":\"f32\",\"layers\":[{\"name\":"
                                "\"relu_1\",\"config\":{\"kind\":\"relu\",\"x\":",
                                "{\"a\":", "1", "}", 100000, "}}]}");
    expect_refused(objects, "nested 100004 deep");
    free(objects);
    /* brackets inside strings do not count: this one is merely invalid */
    expect_refused("{\"kind\":\"[[[[\", \"layers\": [}", "is not valid JSON");
}

static void test_containers_nested_past_the_limit_name_the_path(void **state)
{
    (void)state;
    char *json = nested_containers(ENG_CONTAINER_MAX_DEPTH + 1);
    expect_refused(json, "containers nested more than 16 deep");
    expect_refused(json, "layer 1: 'sequential_1': model 1: 's2': model 1: ");
    expect_refused(json, "'s16': model 1: 's17': containers nested");
    free(json);
    /* 2000 levels: cJSON's limit first (root, layers, 3 per container: its entry, the list of
     * models, the model; then relu_1's entry and config) */
    json = nested_containers(2000);
    expect_refused(json, "nested 6004 deep");
    free(json);
}

static void test_containers_nested_to_the_limit_parse_and_build(void **state)
{
    (void)state;
    char *json = nested_containers(ENG_CONTAINER_MAX_DEPTH);
    eng_dtype dtype;
    eng_layer_spec *specs = NULL;
    int n = 0;
    assert_ok(eng_model_config_parse(json, "deep.h5", &dtype, &specs, &n));
    assert_int_equal(n, 1);
    const eng_layer_spec *s = &specs[0];
    int depth = 0;
    while (s->nchildren == 1 && s->child_sizes[0] == 1) {
        s = &s->children[0];
        depth++;
    }
    assert_int_equal(depth, ENG_CONTAINER_MAX_DEPTH);
    assert_string_equal(s->name, "relu_1");
    eng_layer_specs_free(specs, n);

    /* the loader builds it from a file's config, and refuses one level more naming the file */
    eng_model *m, *block;
    eng_layer *relu, *inner;
    assert_ok(eng_model_new(&block));
    assert_ok(eng_relu_new(&relu));
    assert_ok(eng_model_add(block, relu));
    eng_layer_release(relu);
    assert_ok(eng_sequential_layer_new(block, &inner));
    eng_model_release(block);
    assert_ok(eng_model_new(&m));
    assert_ok(eng_model_add(m, inner));
    eng_layer_release(inner);
    eng_checkpoint *ck;
    assert_ok(eng_checkpoint_create(scratch_path("deep.h5"), &ck));
    assert_ok(eng_checkpoint_write_model(ck, m));
    assert_ok(eng_checkpoint_commit(ck));
    eng_model_release(m);
    assert_ok(eng_checkpoint_open(scratch_path("deep.h5"), &ck));
    free(ck->model_config);
    ck->model_config = json;
    eng_layer *layer = NULL;
    assert_ok(eng_checkpoint_new_layer(ck, 0, &layer));
    assert_true(eng_layer_is_container(layer));
    eng_layer_release(layer);
    eng_layer_specs_free(ck->specs, ck->nspecs);
    ck->specs = NULL;
    ck->model_config = nested_containers(ENG_CONTAINER_MAX_DEPTH + 1);
    free(json);
    assert_error(eng_checkpoint_new_layer(ck, 0, &layer), ENG_EFORMAT,
                 "deep.h5: model_config: ", "containers nested more than 16 deep");
    eng_checkpoint_close(ck);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_nested_100000_deep_is_refused_with_its_depth),
        cmocka_unit_test(test_containers_nested_past_the_limit_name_the_path),
        cmocka_unit_test(test_containers_nested_to_the_limit_parse_and_build),
    };
    return cmocka_run_group_tests(tests, scratch_dir_create, scratch_dir_remove);
}
