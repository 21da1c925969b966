/* The kind registry and settings (engine/registry.h) and the JSON model config
 * (engine/io/architecture.c): every built-in kind is registered and declared; values are
 * refused with the kind, setting and value named, the same whether they come from a
 * constructor or from a file's config; printing and configs derive from the declaration. */
#include "support.h"

static const char *const builtin[] = {"conv2d",  "linear",  "maxpool2d",   "avgpool2d",
                                      "relu",    "tanh",    "sigmoid",     "leaky_relu",
                                      "flatten", "dropout", "batchnorm1d", "batchnorm2d"};

static void test_every_builtin_kind_is_registered_with_a_valid_declaration(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        const eng_layer_kind *kind = eng_kind_find(builtin[i]);
        if (!kind)
            print_message("kind '%s' is not registered\n", builtin[i]);
        assert_non_null(kind);
        assert_string_equal(kind->ops->kind, builtin[i]);
        assert_ok(eng_kind_check(kind));
        assert_non_null(kind->create);
        assert_true(!kind->takes_dtype || kind->param_shapes);
    }
    assert_null(eng_kind_find("nope"));
    assert_error(eng_kind_register(eng_kind_find("linear")), ENG_EARG,
                 "layer kind 'linear' is already registered");
}

/* A new layer of kind from a JSON object of settings, through the file path's parser. */
static eng_status parse_one(const char *config_json, eng_layer_spec **specs)
{
    char json[1024];
    int n;
    eng_dtype dtype;
    snprintf(json, sizeof json,
             "{\"kind\": \"sequential\", \"dtype\": \"f64\", \"layers\": [{\"name\": \"l\", "
             "\"config\": %s}]}",
             config_json);
    return eng_model_config_parse(json, "run.h5", &dtype, specs, &n);
}

static void test_config_values_are_checked_like_arguments(void **state)
{
    (void)state;
    eng_layer_spec *specs = NULL;
    /* the file path */
    assert_error(
        parse_one("{\"kind\": \"linear\", \"in_features\": 1.5, \"out_features\": 2}", &specs),
        ENG_EARG,
        "run.h5: model_config: layer 1: 'l': linear: setting 'in_features' "
        "must be an integer, got 1.5");
    assert_error(parse_one("{\"kind\": \"linear\", \"in_features\": 10000000000000000000000, "
                           "\"out_features\": 2}",
                           &specs),
                 ENG_EARG, "setting 'in_features' must be between 1 and 2147483647, got 1e+22");
    assert_error(parse_one("{\"kind\": \"linear\", \"in_features\": 3, \"out_features\": 2, "
                           "\"bais\": true}",
                           &specs),
                 ENG_EARG,
                 "linear: unknown setting 'bais' (its settings: in_features, "
                 "out_features, bias)");
    assert_error(parse_one("{\"kind\": \"linear\", \"in_features\": 3}", &specs), ENG_EARG,
                 "linear: setting 'out_features' (an integer) is required");
    assert_error(
        parse_one("{\"kind\": \"linear\", \"in_features\": \"3\", \"out_features\": 2}", &specs),
        ENG_EARG, "linear: setting 'in_features' must be an integer, got a string");
    assert_error(parse_one("{\"kind\": \"conv2d\", \"in_channels\": 1, \"out_channels\": 1, "
                           "\"kernel_size\": [3, 3, 3]}",
                           &specs),
                 ENG_EARG,
                 "conv2d: setting 'kernel_size' must be an integer or a list of 2 "
                 "integers, got a list of 3");
    assert_error(parse_one("{\"kind\": \"conv2d\", \"in_channels\": 1, \"out_channels\": 1, "
                           "\"kernel_size\": [3, true]}",
                           &specs),
                 ENG_EARG, "setting 'kernel_size' must be a list of integers, got a boolean");
    assert_error(parse_one("{\"kind\": \"leaky_relu\", \"negative_slope\": null}", &specs),
                 ENG_EARG, "leaky_relu: setting 'negative_slope' cannot be null");
    assert_error(parse_one("{\"kind\": \"dropout\", \"p\": 1}", &specs), ENG_EARG,
                 "dropout: setting 'p' must be between 0 and 0.99999999999999989, got 1");
    assert_error(parse_one("{\"kind\": \"linear\", \"in_features\": 3, \"in_features\": 3, "
                           "\"out_features\": 1}",
                           &specs),
                 ENG_EARG, "setting 'in_features' given twice");
    assert_error(parse_one("{\"kind\": \"swish2\"}", &specs), ENG_EFORMAT,
                 "'l': unknown layer kind 'swish2' (a plugin's kind needs its plugin loaded");
    assert_error(parse_one("{\"in_features\": 3}", &specs), ENG_EFORMAT,
                 "'l': its config has no string \"kind\"");
    int n;
    eng_dtype dtype;
    assert_error(eng_model_config_parse("{\"kind\": \"sequential\", \"dtype\": \"f32\", ", "run.h5",
                                        &dtype, &specs, &n),
                 ENG_EFORMAT, "run.h5: model_config is not valid JSON");
    assert_error(eng_model_config_parse("{\"kind\": \"sequential\", \"dtype\": \"i64\", "
                                        "\"layers\": []}",
                                        "run.h5", &dtype, &specs, &n),
                 ENG_EFORMAT, "dtype 'i64' (f32 or f64 expected)");
    assert_null(specs);

    /* the argument path gives the same refusal for the same value */
    eng_settings s;
    eng_settings_init(&s, eng_kind_find("linear"));
    assert_error(eng_settings_set_number(&s, "in_features", 1.5), ENG_EARG,
                 "linear: setting 'in_features' must be an integer, got 1.5");
    assert_error(eng_settings_set_number(&s, "out_features", NAN), ENG_EARG,
                 "linear: setting 'out_features' must be finite, got nan");
}

static void test_a_parsed_config_builds_the_layer_it_describes(void **state)
{
    (void)state;
    eng_layer_spec *specs = NULL;
    assert_ok(parse_one("{\"kind\": \"conv2d\", \"in_channels\": 2, \"out_channels\": 3, "
                        "\"kernel_size\": 3, \"padding\": [1, 0], \"bias\": false}",
                        &specs));
    eng_layer *layer;
    assert_ok(eng_layer_create(&specs[0].settings, ENG_F64, NULL, &layer));
    free(specs);
    assert_int_equal(layer->nparams, 1);
    assert_int_equal(layer->dtype, ENG_F64);
    char *config;
    assert_ok(eng_layer_config(layer, &config));
    assert_string_equal(config, "{\"kind\":\"conv2d\",\"in_channels\":2,\"out_channels\":3,"
                                "\"kernel_size\":[3,3],\"stride\":[1,1],\"padding\":[1,0],"
                                "\"dilation\":[1,1],\"groups\":1,\"bias\":false}");
    free(config);
    char repr[256];
    eng_layer_repr(layer, repr, sizeof repr);
    assert_string_equal(repr, "Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 0), "
                              "bias=false)");
    eng_layer_release(layer);
}

static void test_the_model_config_round_trips(void **state)
{
    (void)state;
    eng_model *m;
    eng_layer *a, *b, *c;
    assert_ok(eng_model_new(&m));
    assert_ok(eng_linear_new(4, 3, false, ENG_F32, NULL, &a));
    assert_ok(eng_leaky_relu_new(0.25, &b));
    assert_ok(eng_batchnorm_new(1, 3, 1e-3, 0.2, true, ENG_F32, &c));
    assert_ok(eng_model_add(m, a));
    assert_ok(eng_model_add(m, b));
    assert_ok(eng_model_add(m, c));
    char *json;
    assert_ok(eng_model_config(m, &json));
    eng_layer_spec *specs;
    int n;
    eng_dtype dtype;
    assert_ok(eng_model_config_parse(json, "mem", &dtype, &specs, &n));
    assert_int_equal(n, 3);
    assert_int_equal(dtype, ENG_F32);
    const eng_layer *orig[3] = {a, b, c};
    for (int i = 0; i < n; i++) {
        eng_layer *copy;
        assert_string_equal(specs[i].name, orig[i]->name);
        assert_ok(eng_layer_create(&specs[i].settings, dtype, NULL, &copy));
        char *x, *y;
        assert_ok(eng_layer_config(orig[i], &x));
        assert_ok(eng_layer_config(copy, &y));
        assert_string_equal(x, y);
        free(x);
        free(y);
        eng_layer_release(copy);
    }
    free(specs);
    free(json);
    eng_layer_release(a);
    eng_layer_release(b);
    eng_layer_release(c);
    eng_model_release(m);
}

static const eng_setting bad_default[] = {
    {"k", ENG_SETTING_INT, 0, .def = 0, .min = 1, .max = 3},
    {0},
};
static const eng_setting reserved[] = {
    {"name", ENG_SETTING_STRING, 0, .def_string = "x"},
    {0},
};

static void test_a_bad_declaration_is_refused(void **state)
{
    (void)state;
    eng_layer_kind k = *eng_kind_find("relu");
    k.name = "relu2";
    assert_error(eng_kind_check(&k), ENG_EARG, "layer kind 'relu2' has ops->kind 'relu'");
    k.name = "relu";
    k.settings = bad_default;
    assert_error(eng_kind_check(&k), ENG_EARG, "kind 'relu': setting 'k' defaults to 0, outside");
    k.settings = reserved;
    assert_error(eng_kind_check(&k), ENG_EARG, "setting name 'name' is reserved");
    k.settings = NULL;
    k.describe = NULL;
    assert_error(eng_kind_check(&k), ENG_EARG, "layer kind 'relu' has no describe");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_builtin_kind_is_registered_with_a_valid_declaration),
        cmocka_unit_test(test_config_values_are_checked_like_arguments),
        cmocka_unit_test(test_a_parsed_config_builds_the_layer_it_describes),
        cmocka_unit_test(test_the_model_config_round_trips),
        cmocka_unit_test(test_a_bad_declaration_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
