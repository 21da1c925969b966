#include "results.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hdf5_util.h"

/* Checks the root attributes of an existing results file. */
static eng_status check_format(hid_t file, const char *path)
{
    if (H5Aexists(file, "format") <= 0)
        return eng_error(ENG_EFORMAT, "%s: not a sweep results file (no 'format' attribute)",
                         path);
    char *format = NULL;
    int64_t version = 0;
    eng_status st = eng_h5_read_string(file, "format", &format);
    if (!st && strcmp(format, ENG_RESULTS_FORMAT) != 0)
        st = eng_error(ENG_EFORMAT, "%s: not a sweep results file: 'format' is '%s', expected "
                       "'%s'", path, format, ENG_RESULTS_FORMAT);
    if (!st)
        st = eng_h5_read_int64(file, "version", &version);
    if (!st && version != ENG_RESULTS_VERSION)
        st = eng_error(ENG_EFORMAT, "%s: sweep results format version %lld, this engine reads %d",
                       path, (long long)version, ENG_RESULTS_VERSION);
    free(format);
    return st;
}

/* Opens an existing results file after checking its header, structure and checksums. */
static eng_status open_results(const char *path, hid_t *file)
{
    *file = -1;
    eng_status st = eng_h5_header_check(path, "sweep results file");
    if (!st)
        st = eng_h5_open(path, "sweep results", file);
    if (!st)
        st = eng_h5_audit(*file, path, &eng_h5_checkpoint_limits);
    if (!st)
        st = check_format(*file, path);
    return st;
}

typedef struct copy_ctx {
    hid_t dst;
    const char *key;
    bool duplicate;
    eng_status st;
} copy_ctx;

static herr_t copy_run(hid_t src, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    copy_ctx *ctx = data;
    if (strcmp(name, ctx->key) == 0)
        ctx->duplicate = true;
    if (H5Ocopy(src, name, ctx->dst, name, H5P_DEFAULT, H5P_DEFAULT) < 0) {
        ctx->st = eng_h5_error(ENG_EIO, eng_h5_file_of(src), "copying run '%s'", name);
        return -1;
    }
    return 0;
}

/* Creation order when the group tracks it (it always does in files we write). */
static herr_t iterate_runs(hid_t runs, H5L_iterate_t fn, void *data)
{
    hid_t gcpl = H5Gget_create_plist(runs);
    unsigned flags = 0;
    if (gcpl >= 0) {
        H5Pget_link_creation_order(gcpl, &flags);
        H5Pclose(gcpl);
    }
    H5_index_t index = (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
    return H5Literate(runs, index, H5_ITER_INC, NULL, fn, data);
}

eng_status eng_results_append(const char *path, const char *key, const eng_meta *run)
{
    eng_h5_quiet();
    size_t n = strlen(key);
    if (n == 0 || n > 255 || strchr(key, '/') || strcmp(key, ".") == 0)
        return eng_error(ENG_EARG, "%s: run key '%s' must have 1 to 255 characters and no '/'",
                         path, key);
    eng_h5_writer w;
    eng_status st = eng_h5_create(&w, path, "sweep results");
    if (st)
        return st;
    hid_t runs = -1, old = -1, old_runs = -1, g = -1;
    st = eng_h5_write_string(w.file, "format", ENG_RESULTS_FORMAT);
    if (!st)
        st = eng_h5_write_int64(w.file, "version", ENG_RESULTS_VERSION);
    if (st)
        goto fail;
    runs = eng_h5_group_create(w.file, "runs");
    if (runs < 0) {
        st = eng_h5_error(ENG_EIO, path, "creating /runs");
        goto fail;
    }
    if (access(path, F_OK) == 0) {
        st = open_results(path, &old);
        if (st)
            goto fail;
        if (eng_h5_exists(old, "runs")) {
            old_runs = H5Gopen2(old, "runs", H5P_DEFAULT);
            copy_ctx ctx = {runs, key, false, ENG_OK};
            if (old_runs < 0 || iterate_runs(old_runs, copy_run, &ctx) < 0) {
                st = ctx.st ? ctx.st : eng_h5_error(ENG_EFORMAT, path, "reading /runs");
                goto fail;
            }
            if (ctx.duplicate) {
                st = eng_error(ENG_EARG, "%s: a run '%s' is already recorded", path, key);
                goto fail;
            }
        }
    }
    g = eng_h5_group_create(runs, key);
    if (g < 0) {
        st = eng_h5_error(ENG_EIO, path, "creating /runs/%s", key);
        goto fail;
    }
    st = eng_h5_write_meta(g, run);
    if (st)
        goto fail;
    H5Gclose(g);
    H5Gclose(runs);
    if (old_runs >= 0)
        H5Gclose(old_runs);
    if (old >= 0)
        H5Fclose(old);
    st = eng_h5_seal(w.file, path);
    if (st) {
        eng_h5_abort(&w);
        return st;
    }
    return eng_h5_commit(&w);
fail:
    if (g >= 0)
        H5Gclose(g);
    if (runs >= 0)
        H5Gclose(runs);
    if (old_runs >= 0)
        H5Gclose(old_runs);
    if (old >= 0)
        H5Fclose(old);
    eng_h5_abort(&w);
    return st;
}

typedef struct read_ctx {
    eng_meta *out;
    eng_status st;
} read_ctx;

static herr_t read_run(hid_t runs, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    read_ctx *ctx = data;
    eng_meta *sub;
    ctx->st = eng_meta_add(ctx->out, name, ENG_META_TABLE, &sub);
    if (ctx->st)
        return -1;
    hid_t g = H5Gopen2(runs, name, H5P_DEFAULT);
    if (g < 0) {
        ctx->st = eng_h5_error(ENG_EFORMAT, eng_h5_file_of(runs), "opening run '%s'", name);
        return -1;
    }
    ctx->st = eng_h5_read_meta(g, sub, true);
    H5Gclose(g);
    return ctx->st ? -1 : 0;
}

eng_status eng_results_read(const char *path, eng_meta **out)
{
    eng_h5_quiet();
    eng_status st = eng_meta_new(out);
    if (st || access(path, F_OK) != 0)
        return st;
    hid_t file = -1, runs = -1;
    st = open_results(path, &file);
    if (!st && eng_h5_exists(file, "runs")) {
        runs = H5Gopen2(file, "runs", H5P_DEFAULT);
        read_ctx ctx = {*out, ENG_OK};
        if (runs < 0 || iterate_runs(runs, read_run, &ctx) < 0)
            st = ctx.st ? ctx.st : eng_h5_error(ENG_EFORMAT, path, "reading /runs");
    }
    if (runs >= 0)
        H5Gclose(runs);
    if (file >= 0)
        H5Fclose(file);
    if (st) {
        eng_meta_free(*out);
        *out = NULL;
    }
    return st;
}
