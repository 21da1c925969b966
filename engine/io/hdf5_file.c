/* HDF5 files the engine writes and opens (hdf5_util.h): atomic creation through an in-memory
 * image written by the engine itself, and opening with clear errors. */
#include "hdf5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ---------------------------------------------------------------------------- */

static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s) {
        memcpy(s, a, na);
        memcpy(s + na, b, nb + 1);
    }
    return s;
}

static void writer_reset(eng_h5_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    free(w->path);
    free(w->tmp);
    w->path = w->tmp = NULL;
    w->file = -1;
    w->fd = -1;
}

/* File access: format bounds V18..LATEST (compact storage of large attributes, checksummed
 * metadata), and a close that closes every object still open in the file. memory: HDF5's core
 * driver without a backing store, for files being written. */
static hid_t access_plist(bool memory)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return -1;
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        (memory && H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0)) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

eng_status eng_h5_create(eng_h5_writer *w, const char *path, const char *what)
{
    eng_h5_quiet();
    w->file = w->fd = -1;
    w->path = w->tmp = NULL;
    struct stat sb;
    if (!path[0])
        return eng_error(ENG_EARG, "cannot write the %s: the path is empty", what);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return eng_error(ENG_EIO, "%s: cannot write the %s: is a directory", path, what);
    w->path = concat(path, "");
    w->tmp = concat(path, ".tmp");
    if (!w->path || !w->tmp) {
        writer_reset(w);
        return eng_error(ENG_ENOMEM, "%s: out of memory", path);
    }
    /* The temporary file is created now, so that a path that cannot be written is reported
     * before any work; HDF5 builds the file in memory and this code writes it at commit, so
     * that every write error (a full disk, EFBIG) is ours to report and HDF5 never holds a file
     * it failed to close. */
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        eng_status st = eng_error(ENG_EIO, "%s: cannot create the %s (writing %s): %s", path, what,
                                  w->tmp, strerror(errno));
        writer_reset(w);
        return st;
    }
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = access_plist(true);
    unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    if (fcpl >= 0 && fapl >= 0 && H5Pset_userblock(fcpl, ENG_H5_HEADER_SIZE) >= 0 &&
        H5Pset_link_creation_order(fcpl, order) >= 0 &&
        H5Pset_attr_creation_order(fcpl, order) >= 0)
        w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl);
    eng_status st = ENG_OK;
    if (w->file < 0)
        st = eng_h5_error(ENG_EIO, path, "cannot create the %s (writing %s)", what, w->tmp);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (st) {
        unlink(w->tmp);
        writer_reset(w);
    }
    return st;
}

static eng_status fsync_path(const char *path, int flags, const char *what)
{
    int fd = open(path, flags);
    if (fd < 0)
        return eng_error(ENG_EIO, "%s: cannot open %s for fsync: %s", path, what, strerror(errno));
    int r = fsync(fd), err = errno;
    close(fd);
    if (r != 0)
        return eng_error(ENG_EIO, "%s: fsync of %s failed: %s", path, what, strerror(err));
    return ENG_OK;
}

/* HDF5's metadata checksum (Jenkins' lookup3), exported by libhdf5 but not declared in its
 * public headers. */
uint32_t H5_checksum_metadata(const void *data, size_t len, uint32_t initval);

/* H5Fget_file_image of a file open for writing clears the superblock's status flags in the image
 * without recomputing the superblock's checksum (HDF5 1.10); a version 2 or 3 superblock (what
 * libver V18 gives) is 44 bytes followed by that checksum. */
static void fix_superblock(unsigned char *image, size_t size)
{
    if (size < 48 || memcmp(image, "\211HDF\r\n\032\n", 8) != 0 ||
        (image[8] != 2 && image[8] != 3) || image[9] != 8)
        return;
    uint32_t sum = H5_checksum_metadata(image, 44, 0);
    for (int i = 0; i < 4; i++)
        image[44 + i] = (unsigned char)(sum >> (8 * i));
}

/* Takes the in-memory file's image, closes it and writes the image to the temporary file. */
static eng_status write_image(eng_h5_writer *w)
{
    char *image = NULL;
    eng_status st = ENG_OK;
    ssize_t size =
        H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(w->file, NULL, 0);
    if (size < 0 || !(image = malloc((size_t)size + 1)) ||
        H5Fget_file_image(w->file, image, (size_t)size) != size)
        st = image || size < 0 ? eng_h5_error(ENG_EIO, w->path, "cannot finish writing %s", w->tmp)
                               : eng_error(ENG_ENOMEM, "%s: out of memory (%lld bytes)", w->path,
                                           (long long)size);
    if (H5Fclose(w->file) < 0 && !st)
        st = eng_h5_error(ENG_EIO, w->path, "cannot finish writing %s", w->tmp);
    w->file = -1;
    unsigned char header[ENG_H5_HEADER_SIZE];
    if (!st) {
        fix_superblock((unsigned char *)image, (size_t)size);
        eng_h5_header_fill(header, (unsigned char *)image, (size_t)size);
    }
    /* the header (HDF5's user block, which the image leaves out), then the image */
    for (ssize_t done = 0, total = size + ENG_H5_HEADER_SIZE; !st && done < total;) {
        ssize_t n = done < ENG_H5_HEADER_SIZE
                        ? write(w->fd, header + done, (size_t)(ENG_H5_HEADER_SIZE - done))
                        : write(w->fd, image + done - ENG_H5_HEADER_SIZE, (size_t)(total - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            st = eng_error(ENG_EIO, "%s: cannot write %s: %s", w->path, w->tmp,
                           n < 0 ? strerror(errno) : "nothing written");
        else
            done += n;
    }
    free(image);
    if (!st && fsync(w->fd) != 0)
        st = eng_error(ENG_EIO, "%s: fsync of the new file failed: %s", w->path, strerror(errno));
    if (close(w->fd) != 0 && !st)
        st = eng_error(ENG_EIO, "%s: cannot write %s: %s", w->path, w->tmp, strerror(errno));
    w->fd = -1;
    return st;
}

eng_status eng_h5_commit(eng_h5_writer *w)
{
    eng_status st = write_image(w);
    if (!st && rename(w->tmp, w->path) != 0)
        st = eng_error(ENG_EIO, "%s: cannot rename %s over it: %s", w->path, w->tmp,
                       strerror(errno));
    if (!st) {
        /* The rename lives in the directory: fsync it too, or a crash may forget it. */
        char *dir = concat(w->path, "");
        if (!dir) {
            st = eng_error(ENG_ENOMEM, "%s: out of memory", w->path);
        } else {
            char *slash = strrchr(dir, '/');
            const char *d = dir;
            if (!slash)
                d = ".";
            else if (slash == dir)
                d = "/";
            else
                *slash = '\0';
            st = fsync_path(d, O_RDONLY | O_DIRECTORY, "its directory");
            free(dir);
        }
        writer_reset(w);
        return st;
    }
    unlink(w->tmp);
    writer_reset(w);
    return st;
}

void eng_h5_abort(eng_h5_writer *w)
{
    if (!w->tmp)
        return;
    if (w->file >= 0)
        H5Fclose(w->file);
    H5Eclear2(H5E_DEFAULT);
    unlink(w->tmp);
    writer_reset(w);
}

eng_status eng_h5_open(const char *path, const char *what, hid_t *file)
{
    eng_h5_quiet();
    hid_t fapl = access_plist(false);
    *file = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    eng_status st = *file < 0 ? eng_h5_error(ENG_EIO, path, "cannot open the %s", what) : ENG_OK;
    if (fapl >= 0)
        H5Pclose(fapl);
    return st;
}
