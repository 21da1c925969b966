/* HDF5 checkpoints: bit-exact round trips of parameters, optimizer slots, generators and
 * metadata; the layout h5py sees (checked here with the HDF5 C API); every validation error
 * (format, version, names, kinds, shapes, dtypes, missing and extra datasets) and every file
 * error (truncated, corrupt, locked, missing, directory, unwritable); atomic replacement. */
#include "support.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "io/hdf5_util.h"

/* The shared scratch directory, with HDF5's file locking at its default (a test locks a file
 * on purpose). */
static int make_dir(void **state)
{
    unsetenv("HDF5_USE_FILE_LOCKING");
    return scratch_dir_create(state);
}

/* conv 1->3 3x3 -> relu -> maxpool 2 -> flatten -> dropout -> linear 12->out, in dtype, with
 * parameters drawn from seed. */
static eng_model *small_cnn(eng_dtype dtype, int out, uint64_t seed)
{
    eng_rng rng;
    eng_rng_seed(&rng, seed);
    eng_model *m;
    eng_layer *l[6];
    assert_ok(eng_model_new(&m));
    assert_ok(eng_conv2d_new(1, 3, 3, 3, NULL, dtype, &rng, &l[0]));
    assert_ok(eng_relu_new(&l[1]));
    assert_ok(eng_maxpool2d_new(2, 2, 0, 0, 0, 0, &l[2]));
    assert_ok(eng_flatten_new(&l[3]));
    assert_ok(eng_dropout_new(0.5, &rng, &l[4]));
    assert_ok(eng_linear_new(12, out, true, dtype, &rng, &l[5]));
    for (int i = 0; i < 6; i++) {
        assert_ok(eng_model_add(m, l[i]));
        eng_layer_release(l[i]);
    }
    return m;
}

/* Whether every parameter of a and b holds the same bytes. */
static bool same_params(eng_model *a, eng_model *b)
{
    int n = eng_model_param_count(a);
    if (n != eng_model_param_count(b))
        return false;
    for (int i = 0; i < n; i++) {
        const eng_tensor *x = eng_model_param(a, i, NULL, 0)->value;
        const eng_tensor *y = eng_model_param(b, i, NULL, 0)->value;
        size_t bytes = (size_t)eng_tensor_numel(x) * eng_dtype_size(x->dtype);
        if (!eng_tensor_same_shape(x, y) || x->dtype != y->dtype ||
            memcmp(eng_tensor_data(x), eng_tensor_data(y), bytes) != 0)
            return false;
    }
    return true;
}

static void save_model(const char *path, eng_model *model, eng_optimizer *opt, const eng_meta *meta)
{
    eng_checkpoint *ck;
    assert_ok(eng_checkpoint_create(path, &ck));
    if (model)
        assert_ok(eng_checkpoint_write_model(ck, model));
    if (opt)
        assert_ok(eng_checkpoint_write_optimizer(ck, opt));
    assert_ok(eng_checkpoint_write_rng(ck, eng_rng_global(), model));
    if (meta)
        assert_ok(eng_checkpoint_write_meta(ck, meta));
    assert_ok(eng_checkpoint_commit(ck));
}

/* eng_checkpoint_read_model on a freshly opened file; returns the status. */
static eng_status load_model(const char *path, eng_model *model)
{
    eng_checkpoint *ck;
    eng_status st = eng_checkpoint_open(path, &ck);
    if (st)
        return st;
    st = eng_checkpoint_read_model(ck, model);
    eng_checkpoint_close(ck);
    return st;
}

static void copy_file(const char *from, const char *to, long keep)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0 && (keep < 0 || total < keep)) {
        if (keep >= 0 && total + (long)n > keep)
            n = (size_t)(keep - total);
        fwrite(buf, 1, n, out);
        total += (long)n;
    }
    fclose(in);
    fclose(out);
}

static long file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long)sb.st_size;
}

/* ---- round trips ---- */

static void round_trip(eng_dtype dtype)
{
    eng_model *a = small_cnn(dtype, 5, 1), *b = small_cnn(dtype, 5, 2);
    eng_rng *global = eng_rng_global(), saved = *global;
    assert_false(same_params(a, b));
    eng_rng *drop = a->layers[4]->ops->rng(a->layers[4]);
    eng_rng_next(drop);
    eng_rng drop_state = *drop;
    save_model(scratch_path("round.h5"), a, NULL, NULL);
    eng_rng_next(global);
    assert_ok(load_model(scratch_path("round.h5"), b));
    assert_true(same_params(a, b));
    assert_memory_equal(b->layers[4]->ops->rng(b->layers[4])->s, drop_state.s, sizeof drop_state.s);
    eng_checkpoint *ck;
    assert_ok(eng_checkpoint_open(scratch_path("round.h5"), &ck));
    eng_rng restored;
    assert_ok(eng_checkpoint_read_rng(ck, &restored));
    assert_memory_equal(restored.s, saved.s, sizeof saved.s);
    assert_int_equal(eng_checkpoint_layer_count(ck), 6);
    assert_string_equal(eng_checkpoint_layer_name(ck, 5), "linear_1");
    assert_non_null(strstr(eng_checkpoint_model_config(ck),
                           "{\"name\":\"relu_1\",\"config\":{\"kind\":\"relu\"}}"));
    assert_string_equal(eng_checkpoint_model_dtype(ck), eng_dtype_name(dtype));
    assert_string_equal(eng_checkpoint_engine_version(ck), ENGINE_VERSION);
    assert_false(eng_checkpoint_has_optimizer(ck));
    eng_checkpoint_close(ck);
    eng_model_release(a);
    eng_model_release(b);
}

static void test_checkpoint_round_trip_is_bit_exact_in_f32(void **state)
{
    (void)state;
    round_trip(ENG_F32);
}

static void test_checkpoint_round_trip_is_bit_exact_in_f64(void **state)
{
    (void)state;
    round_trip(ENG_F64);
}

/* Random gradients, then n SGD steps. */
static void sgd_steps(eng_optimizer *opt, int n, uint64_t seed)
{
    for (int s = 0; s < n; s++)
        for (int i = 0; i < opt->nparams; i++)
            tensor_randn(opt->params[i].grad, seed + (uint64_t)(10 * s + i), 1.0);
    for (int s = 0; s < n; s++)
        assert_ok(eng_optimizer_step(opt));
}

static void test_checkpoint_restores_optimizer_slots_steps_and_lr(void **state)
{
    (void)state;
    eng_model *a = small_cnn(ENG_F64, 4, 1), *b = small_cnn(ENG_F64, 4, 1);
    eng_sgd_options o = {.lr = 0.1, .momentum = 0.9};
    eng_optimizer *oa, *ob;
    assert_ok(eng_sgd_new(eng_model_params(a), &o, &oa));
    assert_ok(eng_sgd_new(eng_model_params(b), &o, &ob));
    sgd_steps(oa, 3, 5);
    oa->lr = 0.025; /* as a schedule would */
    save_model(scratch_path("opt.h5"), a, oa, NULL);
    eng_checkpoint *ck;
    assert_ok(eng_checkpoint_open(scratch_path("opt.h5"), &ck));
    assert_true(eng_checkpoint_has_optimizer(ck));
    assert_ok(eng_checkpoint_read_optimizer(ck, ob));
    eng_checkpoint_close(ck);
    assert_int_equal(ob->steps, 3);
    assert_true(ob->lr == 0.025);
    for (int i = 0; i < oa->nparams; i++) {
        const eng_tensor *x = oa->slots[i], *y = ob->slots[i];
        assert_non_null(y);
        assert_memory_equal(eng_tensor_data(x), eng_tensor_data(y),
                            (size_t)eng_tensor_numel(x) * sizeof(double));
    }
    /* A checkpoint saved before the first step has no slots: loading it empties them. */
    eng_optimizer *fresh;
    assert_ok(eng_sgd_new(eng_model_params(a), &o, &fresh));
    save_model(scratch_path("opt0.h5"), a, fresh, NULL);
    assert_ok(eng_checkpoint_open(scratch_path("opt0.h5"), &ck));
    assert_ok(eng_checkpoint_read_optimizer(ck, ob));
    eng_checkpoint_close(ck);
    for (int i = 0; i < ob->nparams; i++)
        assert_null(ob->slots[i]);
    assert_int_equal(ob->steps, 0);
    eng_optimizer_release(fresh);
    eng_optimizer_release(oa);
    eng_optimizer_release(ob);
    eng_model_release(a);
    eng_model_release(b);
}

static void test_checkpoint_refuses_other_optimizer_settings(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F32, 4, 1);
    eng_sgd_options o = {.lr = 0.1, .momentum = 0.9}, other = {.lr = 0.1, .momentum = 0.5};
    eng_optimizer *a, *b, *adam;
    assert_ok(eng_sgd_new(eng_model_params(m), &o, &a));
    assert_ok(eng_sgd_new(eng_model_params(m), &other, &b));
    eng_adam_options ao = ENG_ADAM_DEFAULTS;
    assert_ok(eng_adam_new(eng_model_params(m), &ao, &adam));
    save_model(scratch_path("settings.h5"), m, a, NULL);
    eng_checkpoint *ck;
    assert_ok(eng_checkpoint_open(scratch_path("settings.h5"), &ck));
    assert_error(eng_checkpoint_read_optimizer(ck, b), ENG_EARG,
                 "sgd's momentum is 0.90000000000000002 in the file but 0.5 in this optimizer");
    assert_error(eng_checkpoint_read_optimizer(ck, adam), ENG_EFORMAT,
                 "the checkpoint holds a sgd optimizer, this one is adam");
    eng_checkpoint_close(ck);
    eng_optimizer_release(a);
    eng_optimizer_release(b);
    eng_optimizer_release(adam);
    eng_model_release(m);
}

static void test_checkpoint_meta_round_trips_every_type(void **state)
{
    (void)state;
    eng_meta *meta, *sub, *deeper;
    double losses[3] = {0.5, 0.25, 0.125};
    assert_ok(eng_meta_new(&meta));
    assert_ok(eng_meta_add_integer(meta, "step", 1234567890123ll));
    assert_ok(eng_meta_add_number(meta, "lr", 0.1));
    assert_ok(eng_meta_add_boolean(meta, "done", true));
    assert_ok(eng_meta_add_string(meta, "note", "h\xc3\xa9llo"));
    assert_ok(eng_meta_add_numbers(meta, "losses", losses, 3));
    assert_ok(eng_meta_add(meta, "sub", ENG_META_TABLE, &sub));
    assert_ok(eng_meta_add(sub, "deeper", ENG_META_TABLE, &deeper));
    assert_ok(eng_meta_add_boolean(deeper, "no", false));
    assert_error(eng_meta_add_integer(meta, "step", 1), ENG_EARG, "key 'step' appears twice");
    assert_error(eng_meta_add_integer(meta, "a/b", 1), ENG_EARG, "key 'a/b' cannot name");
    save_model(scratch_path("meta.h5"), NULL, NULL, meta);
    eng_meta_free(meta);
    eng_checkpoint *ck;
    assert_ok(eng_checkpoint_open(scratch_path("meta.h5"), &ck));
    assert_false(eng_checkpoint_has_model(ck));
    assert_ok(eng_checkpoint_read_meta(ck, &meta));
    eng_checkpoint_close(ck);
    const eng_meta *m = eng_meta_get(meta, "step");
    assert_true(m && m->type == ENG_META_INTEGER && m->integer == 1234567890123ll);
    m = eng_meta_get(meta, "lr");
    assert_true(m && m->type == ENG_META_NUMBER && m->number == 0.1);
    m = eng_meta_get(meta, "done");
    assert_true(m && m->type == ENG_META_BOOLEAN && m->boolean);
    m = eng_meta_get(meta, "note");
    assert_true(m && m->type == ENG_META_STRING);
    assert_string_equal(m->string, "h\xc3\xa9llo");
    m = eng_meta_get(meta, "losses");
    assert_true(m && m->type == ENG_META_NUMBERS && m->count == 3 && m->numbers[2] == 0.125);
    m = eng_meta_get(eng_meta_get(eng_meta_get(meta, "sub"), "deeper"), "no");
    assert_true(m && m->type == ENG_META_BOOLEAN && !m->boolean);
    eng_meta_free(meta);
}

/* ---- the layout, as any HDF5 reader sees it ---- */

static void test_checkpoint_layout_is_readable_without_the_engine(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F32, 4, 1);
    save_model(scratch_path("layout.h5"), m, NULL, NULL);
    hid_t f = H5Fopen(scratch_path("layout.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    /* libver bounds: a V18-or-later superblock (version 2 or 3) */
    H5F_info2_t info;
    assert_true(H5Fget_info2(f, &info) >= 0);
    assert_true(info.super.version >= 2);
    hid_t g = H5Gopen2(f, "/model", H5P_DEFAULT);
    hid_t gcpl = H5Gget_create_plist(g);
    unsigned flags = 0;
    assert_true(H5Pget_link_creation_order(gcpl, &flags) >= 0);
    assert_true(flags & H5P_CRT_ORDER_TRACKED);
    /* groups in creation order = the layers' order */
    char name[64];
    assert_true(H5Lget_name_by_idx(g, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, 2, name, sizeof name,
                                   H5P_DEFAULT) > 0);
    assert_string_equal(name, "maxpool2d_1");
    /* layer_names: fixed-length UTF-8 strings (format 2: nothing in the global heap) */
    hid_t a = H5Aopen(g, "layer_names", H5P_DEFAULT), t = H5Aget_type(a);
    assert_true(H5Tis_variable_str(t) == 0);
    assert_int_equal(H5Tget_cset(t), H5T_CSET_UTF8);
    H5Tclose(t);
    H5Aclose(a);
    /* a parameter: [3,1,3,3] float32 */
    hid_t d = H5Dopen2(f, "/model/conv2d_1/weight", H5P_DEFAULT), s = H5Dget_space(d);
    hsize_t dims[4];
    assert_int_equal(H5Sget_simple_extent_dims(s, dims, NULL), 4);
    assert_true(dims[0] == 3 && dims[1] == 1 && dims[2] == 3 && dims[3] == 3);
    t = H5Dget_type(d);
    assert_true(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    H5Pclose(gcpl);
    H5Gclose(g);
    H5Fclose(f);
    eng_model_release(m);
}

/* ---- validation ---- */

/* Makes a file changed in place with HDF5 well-formed again: its objects' checksums and its
 * header, as a tool that edits checkpoints would. */
static void reseal(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_ok(eng_h5_seal(f, path));
    H5Fclose(f);
    assert_ok(eng_h5_header_rewrite(path));
}

/* Rewrites attribute name of object obj in path as a string or an integer. */
static void set_attr(const char *path, const char *obj, const char *name, const char *s, int64_t v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    H5Adelete(o, name);
    hid_t space = H5Screate(H5S_SCALAR), type = s ? H5Tcopy(H5T_C_S1) : H5Tcopy(H5T_NATIVE_INT64);
    if (s)
        H5Tset_size(type, strlen(s));
    hid_t a = H5Acreate2(o, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, type, s ? (const void *)s : &v) >= 0);
    H5Aclose(a);
    H5Tclose(type);
    H5Sclose(space);
    H5Oclose(o);
    H5Fclose(f);
    /* a well-formed file with other values: its checksums are rewritten too */
    reseal(path);
}

static void test_checkpoint_checks_format_and_version(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F32, 4, 1);
    save_model(scratch_path("fmt.h5"), m, NULL, NULL);
    eng_checkpoint *ck;
    set_attr(scratch_path("fmt.h5"), "/", "format", "keras", 0);
    assert_error(eng_checkpoint_open(scratch_path("fmt.h5"), &ck), ENG_EFORMAT,
                 "fmt.h5: not an engine checkpoint: attribute 'format' is 'keras', expected "
                 "'engine-checkpoint'");
    save_model(scratch_path("fmt.h5"), m, NULL, NULL);
    set_attr(scratch_path("fmt.h5"), "/", "version", NULL, 3);
    assert_error(eng_checkpoint_open(scratch_path("fmt.h5"), &ck), ENG_EFORMAT,
                 "checkpoint format version 3, this engine (" ENGINE_VERSION ") reads version 2");
    set_attr(scratch_path("fmt.h5"), "/", "version", NULL, 1);
    assert_error(eng_checkpoint_open(scratch_path("fmt.h5"), &ck), ENG_EFORMAT,
                 "fmt.h5: written by an older version of the engine (checkpoint format version "
                 "1");
    hid_t f = H5Fcreate(scratch_path("plain.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    assert_error(eng_checkpoint_open(scratch_path("plain.h5"), &ck), ENG_EFORMAT,
                 "plain.h5: not an engine checkpoint of this format: an HDF5 file without the "
                 "engine's header (written by an older version of the engine");
    eng_model_release(m);
}

static void test_checkpoint_names_the_first_mismatch(void **state)
{
    (void)state;
    eng_model *saved = small_cnn(ENG_F32, 4, 1);
    save_model(scratch_path("mismatch.h5"), saved, NULL, NULL);
    const char *path = scratch_path("mismatch.h5");
    eng_model *wide = small_cnn(ENG_F32, 5, 2), *f64 = small_cnn(ENG_F64, 4, 2);
    eng_model *renamed = small_cnn(ENG_F32, 4, 2), *shorter, *other_kind;
    assert_error(load_model(path, wide), ENG_ESHAPE,
                 "/model/linear_1/weight has shape [4,12] in the file, but the model's "
                 "linear_1.weight is [5,12]");
    assert_error(load_model(path, f64), ENG_EDTYPE,
                 "/model/conv2d_1/weight is f32 in the file, but the model's conv2d_1.weight is "
                 "f64");
    assert_ok(eng_layer_set_name(renamed->layers[1], "act"));
    assert_error(load_model(path, renamed), ENG_EFORMAT,
                 "layer 2 is 'act' in the model but 'relu_1' in the file");
    /* the same names, one layer fewer; then a different kind under the same name */
    assert_ok(eng_model_new(&shorter));
    for (int i = 0; i < 5; i++)
        assert_ok(eng_model_add(shorter, saved->layers[i]));
    assert_error(load_model(path, shorter), ENG_EFORMAT, "the model has 5 layers, the file 6");
    assert_ok(eng_model_new(&other_kind));
    eng_layer *tanh;
    assert_ok(eng_tanh_new(&tanh));
    assert_ok(eng_layer_set_name(tanh, "conv2d_1"));
    assert_ok(eng_model_add(other_kind, tanh));
    eng_layer_release(tanh);
    assert_error(load_model(path, other_kind), ENG_EFORMAT,
                 "layer 1 'conv2d_1' is tanh in the model but conv2d in the file");
    /* nothing changed in the models that did not fit */
    eng_model *fresh = small_cnn(ENG_F32, 5, 2);
    assert_true(same_params(wide, fresh));
    eng_model_release(fresh);
    eng_model_release(wide);
    eng_model_release(f64);
    eng_model_release(renamed);
    eng_model_release(shorter);
    eng_model_release(other_kind);
    eng_model_release(saved);
}

static void test_checkpoint_names_missing_and_extra_datasets(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F32, 4, 1);
    save_model(scratch_path("missing.h5"), m, NULL, NULL);
    hid_t f = H5Fopen(scratch_path("missing.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(f, "/model/linear_1/bias", H5P_DEFAULT) >= 0);
    hsize_t one = 1;
    hid_t s = H5Screate_simple(1, &one, NULL);
    hid_t d = H5Dcreate2(f, "/model/conv2d_1/scale", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    float zero = 0;
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &zero) >= 0);
    assert_ok(eng_h5_write_crc(d, &zero, sizeof zero));
    H5Dclose(d);
    H5Sclose(s);
    H5Fclose(f);
    reseal(scratch_path("missing.h5"));
    assert_error(load_model(scratch_path("missing.h5"), m), ENG_EFORMAT,
                 "/model/conv2d_1/scale is in the file, but the model's conv2d_1 (conv2d) has no "
                 "parameter 'scale'");
    f = H5Fopen(scratch_path("missing.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(f, "/model/conv2d_1/scale", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    reseal(scratch_path("missing.h5"));
    assert_error(load_model(scratch_path("missing.h5"), m), ENG_EFORMAT,
                 "missing.h5: missing dataset /model/linear_1/bias (the model's linear_1.bias is "
                 "f32 [4])");
    eng_model_release(m);
}

/* ---- file errors ---- */

static void test_checkpoint_reports_bad_files_in_one_line(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F32, 4, 1);
    save_model(scratch_path("whole.h5"), m, NULL, NULL);
    copy_file(scratch_path("whole.h5"), scratch_path("cut.h5"),
              file_size(scratch_path("whole.h5")) / 2);
    eng_checkpoint *ck;
    assert_error(eng_checkpoint_open(scratch_path("cut.h5"), &ck), ENG_EIO,
                 "cut.h5: cannot open the checkpoint: truncated file (");
    assert_error(eng_checkpoint_open(scratch_path("nowhere.h5"), &ck), ENG_EIO,
                 "nowhere.h5: cannot open the checkpoint: No such file or directory");
    assert_error(eng_checkpoint_open(scratch_dir, &ck), ENG_EIO,
                 "cannot open the checkpoint: is a "
                 "directory");
    FILE *txt = fopen(scratch_path("text.h5"), "w");
    fputs("not hdf5\n", txt);
    fclose(txt);
    assert_error(eng_checkpoint_open(scratch_path("text.h5"), &ck), ENG_EFORMAT,
                 "text.h5: not an engine checkpoint: it does not start with the engine's header");
    /* locked: another open file description holds an exclusive flock, as HDF5's own does */
    int fd = open(scratch_path("whole.h5"), O_RDONLY);
    assert_true(fd >= 0 && flock(fd, LOCK_EX) == 0);
    assert_error(eng_checkpoint_open(scratch_path("whole.h5"), &ck), ENG_EIO, "the file is locked",
                 "HDF5_USE_FILE_LOCKING=FALSE");
    close(fd);
    assert_ok(eng_checkpoint_open(scratch_path("whole.h5"), &ck));
    eng_checkpoint_close(ck);
    eng_model_release(m);
}

/* A flipped bit in the weights fails the Fletcher-32 checksum instead of loading silently. */
static void test_checkpoint_detects_corrupt_weights(void **state)
{
    (void)state;
    eng_model *m = small_cnn(ENG_F32, 4, 1);
    float marker[4] = {1234.5f, -987.25f, 4242.125f, 77.0625f};
    memcpy(eng_tensor_data(m->layers[5]->params[1].value), marker, sizeof marker);
    save_model(scratch_path("flip.h5"), m, NULL, NULL);
    FILE *f = fopen(scratch_path("flip.h5"), "r+b");
    long size = file_size(scratch_path("flip.h5"));
    unsigned char *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    long at = -1;
    for (long i = 0; i + (long)sizeof marker <= size && at < 0; i++)
        if (memcmp(bytes + i, marker, sizeof marker) == 0)
            at = i;
    assert_true(at >= 0);
    fseek(f, at + 5, SEEK_SET);
    fputc(bytes[at + 5] ^ 0x10, f);
    fclose(f);
    free(bytes);
    eng_model *into = small_cnn(ENG_F32, 4, 2);
    /* the header's CRC-32 of the whole file sees it first, before HDF5 reads anything */
    assert_error(load_model(scratch_path("flip.h5"), into), ENG_EFORMAT,
                 "flip.h5: the checkpoint is corrupt: its bytes have CRC-32 ");
    /* a header rewritten over the change: HDF5's Fletcher-32 of the chunk is next */
    assert_ok(eng_h5_header_rewrite(scratch_path("flip.h5")));
    assert_error(load_model(scratch_path("flip.h5"), into), ENG_EFORMAT,
                 "flip.h5: cannot read /model/linear_1/bias: data error detected by Fletcher32 "
                 "checksum");
    /* the engine's own CRC-32 covers what HDF5's chunk index could misdirect */
    save_model(scratch_path("crc.h5"), m, NULL, NULL);
    set_attr(scratch_path("crc.h5"), "/model/linear_1/weight", "crc32", NULL, 12345);
    assert_error(load_model(scratch_path("crc.h5"), into), ENG_EFORMAT,
                 "crc.h5: /model/linear_1/weight is corrupt: its data have CRC-32 ",
                 "the file records 00003039");
    eng_model_release(into);
    eng_model_release(m);
}

/* ---- atomic writes ---- */

static void test_checkpoint_writes_atomically(void **state)
{
    (void)state;
    eng_model *a = small_cnn(ENG_F32, 4, 1), *b = small_cnn(ENG_F32, 4, 2);
    const char *path = scratch_path("atomic.h5"), *tmp = scratch_path("atomic.h5.tmp");
    save_model(path, a, NULL, NULL);
    /* a save abandoned half-way leaves the old file and no temporary */
    eng_checkpoint *ck;
    assert_ok(eng_checkpoint_create(path, &ck));
    assert_ok(eng_checkpoint_write_model(ck, b));
    assert_int_equal(access(tmp, F_OK), 0);
    eng_checkpoint_close(ck);
    assert_int_equal(access(tmp, F_OK), -1);
    eng_model *check = small_cnn(ENG_F32, 4, 3);
    assert_ok(load_model(path, check));
    assert_true(same_params(check, a));
    /* a leftover temporary from a killed process is replaced */
    copy_file(path, tmp, 100);
    save_model(path, b, NULL, NULL);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_ok(load_model(path, check));
    assert_true(same_params(check, b));
    /* unwritable places */
    assert_error(eng_checkpoint_create(scratch_path("no/such/dir/x.h5"), &ck), ENG_EIO,
                 "x.h5: cannot create the checkpoint (writing ", "No such file or directory");
    assert_error(eng_checkpoint_create(scratch_dir, &ck), ENG_EIO,
                 "cannot write the checkpoint: is a "
                 "directory");
    eng_model_release(check);
    eng_model_release(a);
    eng_model_release(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_round_trip_is_bit_exact_in_f32),
        cmocka_unit_test(test_checkpoint_round_trip_is_bit_exact_in_f64),
        cmocka_unit_test(test_checkpoint_restores_optimizer_slots_steps_and_lr),
        cmocka_unit_test(test_checkpoint_refuses_other_optimizer_settings),
        cmocka_unit_test(test_checkpoint_meta_round_trips_every_type),
        cmocka_unit_test(test_checkpoint_layout_is_readable_without_the_engine),
        cmocka_unit_test(test_checkpoint_checks_format_and_version),
        cmocka_unit_test(test_checkpoint_names_the_first_mismatch),
        cmocka_unit_test(test_checkpoint_names_missing_and_extra_datasets),
        cmocka_unit_test(test_checkpoint_reports_bad_files_in_one_line),
        cmocka_unit_test(test_checkpoint_detects_corrupt_weights),
        cmocka_unit_test(test_checkpoint_writes_atomically),
    };
    return cmocka_run_group_tests(tests, make_dir, scratch_dir_remove);
}
