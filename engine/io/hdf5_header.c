/* The engine's header: the first 512 bytes of every HDF5 file the engine writes, HDF5's "user
 * block", which HDF5 and h5py skip. It records the file's length and the CRC-32 of everything
 * after it, so that a reader refuses a cut, extended or changed file before HDF5 parses a
 * single byte of it: HDF5 1.10 leaks memory on a metadata checksum failure and trusts parts of
 * a file it does not checksum (the global heap, v1 B-trees).
 *
 *   bytes 0..7     "\211ENG\r\n\032\n" (PNG's trick: 8-bit, line-ending and EOF damage show)
 *   bytes 8..11    header version, uint32 little-endian (1)
 *   bytes 16..23   the file's length in bytes, uint64 little-endian
 *   bytes 24..27   CRC-32 (zlib) of bytes 512..length, uint32 little-endian
 *   bytes 32..     a line of text for a person looking at the file; the rest zeros */
#include "hdf5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

static const unsigned char magic[8] = {0x89, 'E', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void header_make(unsigned char *h, uint64_t size, uint32_t crc)
{
    memset(h, 0, ENG_H5_HEADER_SIZE);
    memcpy(h, magic, sizeof magic);
    put_le(h + 8, 1, 4);
    put_le(h + 16, size, 8);
    put_le(h + 24, crc, 4);
    snprintf((char *)h + 32, 64, "engine file; HDF5 from byte %d\n", ENG_H5_HEADER_SIZE);
}

void eng_h5_header_fill(unsigned char *header, const unsigned char *image, size_t size)
{
    header_make(header, ENG_H5_HEADER_SIZE + (uint64_t)size, (uint32_t)crc32_z(0, image, size));
}

bool eng_h5_header_present(const char *path)
{
    unsigned char h[8];
    FILE *f = fopen(path, "rb");
    bool yes = f && fread(h, 1, sizeof h, f) == sizeof h && memcmp(h, magic, sizeof h) == 0;
    if (f)
        fclose(f);
    return yes;
}

/* CRC-32 of the bytes of fd from offset ENG_H5_HEADER_SIZE to its end. */
static eng_status crc_of_rest(int fd, const char *path, uLong *crc)
{
    enum { BLOCK = 1 << 20 };
    unsigned char *buf = malloc(BLOCK);
    if (!buf)
        return eng_error(ENG_ENOMEM, "%s: out of memory", path);
    *crc = crc32_z(0, NULL, 0);
    off_t at = ENG_H5_HEADER_SIZE;
    eng_status st = ENG_OK;
    for (;;) {
        ssize_t n = pread(fd, buf, BLOCK, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            st = eng_error(ENG_EIO, "%s: cannot read: %s", path, strerror(errno));
        if (n <= 0)
            break;
        *crc = crc32_z(*crc, buf, (size_t)n);
        at += n;
    }
    free(buf);
    return st;
}

eng_status eng_h5_header_check(const char *path, const char *what)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return eng_error(ENG_EIO, "%s: cannot open the %s: %s", path, what, strerror(errno));
    struct stat sb;
    unsigned char h[64];
    eng_status st = ENG_OK;
    ssize_t n = 0;
    if (fstat(fd, &sb) != 0)
        st = eng_error(ENG_EIO, "%s: cannot open the %s: %s", path, what, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        st = eng_error(ENG_EIO, "%s: cannot open the %s: is a directory, not a file", path, what);
    else if ((n = pread(fd, h, sizeof h, 0)) >= 8 && memcmp(h, "\211HDF\r\n\032\n", 8) == 0)
        st = eng_error(ENG_EFORMAT,
                       "%s: not an engine %s of this format: an HDF5 file without the engine's "
                       "header (written by an older version of the engine, whose files HDF5 "
                       "could not fully checksum, or by another program)",
                       path, what);
    else if (n < (ssize_t)sizeof h || memcmp(h, magic, 8) != 0)
        st = eng_error(ENG_EFORMAT,
                       "%s: not an engine %s: it does not start with the engine's header", path,
                       what);
    else if (get_le(h + 8, 4) != 1)
        st = eng_error(ENG_EFORMAT, "%s: engine header version %llu, this engine reads 1", path,
                       (unsigned long long)get_le(h + 8, 4));
    else if ((uint64_t)sb.st_size < get_le(h + 16, 8))
        st = eng_error(ENG_EIO,
                       "%s: cannot open the %s: truncated file (%lld bytes, the header "
                       "says %llu)",
                       path, what, (long long)sb.st_size, (unsigned long long)get_le(h + 16, 8));
    else if ((uint64_t)sb.st_size != get_le(h + 16, 8))
        st = eng_error(ENG_EFORMAT, "%s: the %s is %lld bytes, its header says %llu", path, what,
                       (long long)sb.st_size, (unsigned long long)get_le(h + 16, 8));
    uLong crc = 0;
    if (!st)
        st = crc_of_rest(fd, path, &crc);
    if (!st && crc != get_le(h + 24, 4))
        st = eng_error(ENG_EFORMAT,
                       "%s: the %s is corrupt: its bytes have CRC-32 %08lx, its header records "
                       "%08llx",
                       path, what, (unsigned long)crc, (unsigned long long)get_le(h + 24, 4));
    close(fd);
    return st;
}

eng_status eng_h5_header_rewrite(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size < ENG_H5_HEADER_SIZE) {
        if (fd >= 0)
            close(fd);
        return eng_error(ENG_EIO, "%s: cannot rewrite the header", path);
    }
    uLong crc;
    eng_status st = crc_of_rest(fd, path, &crc);
    unsigned char h[ENG_H5_HEADER_SIZE];
    if (!st) {
        header_make(h, (uint64_t)sb.st_size, (uint32_t)crc);
        if (pwrite(fd, h, sizeof h, 0) != (ssize_t)sizeof h)
            st = eng_error(ENG_EIO, "%s: cannot rewrite the header: %s", path, strerror(errno));
    }
    close(fd);
    return st;
}
