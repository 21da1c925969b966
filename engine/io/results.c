#include "results.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hdf5_util.h"
#include "results_impl.h"

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

static eng_status read_runs(hid_t file, const char *path, eng_meta *out, bool vlen);

/* Writes the runs of format 1 file path into group runs of the file being written. */
static eng_status copy_legacy(const char *path, hid_t runs, const char *key)
{
    eng_meta *old;
    eng_results_info info;
    eng_status st = eng_results_read_info(path, &old, &info);
    for (int i = 0; !st && i < old->nitems; i++) {
        const eng_meta *run = old->items[i];
        if (strcmp(run->key, key) == 0) {
            st = eng_error(ENG_EARG, "%s: a run '%s' is already recorded", path, key);
            break;
        }
        hid_t g = eng_h5_group_create(runs, run->key);
        if (g < 0) {
            st = eng_h5_error(ENG_EIO, path, "creating /runs/%s", run->key);
            break;
        }
        st = eng_h5_write_meta(g, run);
        H5Gclose(g);
    }
    eng_meta_free(old);
    return st;
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
        eng_results_info info;
        st = eng_results_open(path, &old, &info);
        if (st)
            goto fail;
        if (info.version == 1) {
            /* its strings may be variable-length: copied through the tree, not H5Ocopy */
            H5Fclose(old);
            old = -1;
            st = copy_legacy(path, runs, key);
            if (st)
                goto fail;
        } else if (eng_h5_exists(old, "runs")) {
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
    bool vlen;
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
    ctx->st = ctx->vlen ? eng_h5_read_meta_vlen(g, sub, true) : eng_h5_read_meta(g, sub, true);
    H5Gclose(g);
    return ctx->st ? -1 : 0;
}

/* Every run of an opened file into out (vlen: a format 1 file). */
static eng_status read_runs(hid_t file, const char *path, eng_meta *out, bool vlen)
{
    if (!eng_h5_exists(file, "runs"))
        return ENG_OK;
    hid_t runs = H5Gopen2(file, "runs", H5P_DEFAULT);
    read_ctx ctx = {out, vlen, ENG_OK};
    eng_status st = ENG_OK;
    if (runs < 0 || iterate_runs(runs, read_run, &ctx) < 0)
        st = ctx.st ? ctx.st : eng_h5_error(ENG_EFORMAT, path, "reading /runs");
    if (runs >= 0)
        H5Gclose(runs);
    return st;
}

eng_status eng_results_read_info(const char *path, eng_meta **out, eng_results_info *info)
{
    eng_h5_quiet();
    memset(info, 0, sizeof *info);
    eng_status st = eng_meta_new(out);
    if (st || access(path, F_OK) != 0)
        return st;
    hid_t file = -1;
    st = eng_results_open(path, &file, info);
    if (!st)
        st = read_runs(file, path, *out, info->version == 1);
    if (file >= 0)
        H5Fclose(file);
    if (st) {
        eng_meta_free(*out);
        *out = NULL;
    }
    return st;
}

eng_status eng_results_read(const char *path, eng_meta **out)
{
    eng_results_info info;
    return eng_results_read_info(path, out, &info);
}
