#include "runlog.h"

#include <stdlib.h>
#include <string.h>

#include "hdf5_util.h"

eng_status eng_runlog_write(const char *path, const eng_meta *log)
{
    eng_h5_quiet();
    eng_h5_writer w;
    eng_status st = eng_h5_create(&w, path, "run log");
    if (st)
        return st;
    hid_t g = -1;
    st = eng_h5_write_string(w.file, "format", ENG_RUNLOG_FORMAT);
    if (!st)
        st = eng_h5_write_int64(w.file, "version", 1);
    if (st)
        goto fail;
    g = eng_h5_group_create(w.file, "log");
    if (g < 0) {
        st = eng_h5_error(ENG_EIO, path, "creating /log");
        goto fail;
    }
    st = eng_h5_write_meta(g, log);
    if (st)
        goto fail;
    H5Gclose(g);
    return eng_h5_commit(&w);
fail:
    if (g >= 0)
        H5Gclose(g);
    eng_h5_abort(&w);
    return st;
}

eng_status eng_runlog_read(const char *path, eng_meta **out)
{
    eng_h5_quiet();
    *out = NULL;
    hid_t file = -1, g = -1;
    char *format = NULL;
    eng_meta *log = NULL;
    eng_status st = eng_h5_open(path, "run log", &file);
    if (st)
        return st;
    if (H5Aexists(file, "format") <= 0) {
        st = eng_error(ENG_EFORMAT, "%s: not a run log (no 'format' attribute)", path);
        goto fail;
    }
    st = eng_h5_read_string(file, "format", &format);
    if (!st && strcmp(format, ENG_RUNLOG_FORMAT) != 0)
        st = eng_error(ENG_EFORMAT, "%s: not a run log: 'format' is '%s', expected '%s'", path,
                       format, ENG_RUNLOG_FORMAT);
    if (!st && !eng_h5_exists(file, "log"))
        st = eng_error(ENG_EFORMAT, "%s: run log without /log", path);
    if (st)
        goto fail;
    g = H5Gopen2(file, "log", H5P_DEFAULT);
    if (g < 0) {
        st = eng_h5_error(ENG_EFORMAT, path, "opening /log");
        goto fail;
    }
    st = eng_meta_new(&log);
    if (!st)
        st = eng_h5_read_meta(g, log, true);
    if (st)
        goto fail;
    H5Gclose(g);
    H5Fclose(file);
    free(format);
    *out = log;
    return ENG_OK;
fail:
    eng_meta_free(log);
    if (g >= 0)
        H5Gclose(g);
    free(format);
    H5Fclose(file);
    return st;
}
