/* A sweep's results file: one group per run, /runs/<key>, holding the run's table (settings,
 * status, metrics, curves, wall time) in the checkpoint meta layout, so h5py reads it too.
 *
 *   /            attrs format="engine-sweep", version=2
 *
 * Version 2 is written and checked as checkpoints are (hdf5_util.h): the engine header,
 * fixed-length strings, attrs_crc32 on every object, the audit before anything is parsed.
 *   /runs/<key>  one run (groups in the order the runs finished)
 *
 * Appending to a format 1 file rewrites it in format 2.
 *
 * Appending rewrites the file through a temporary copy that is fsynced and renamed over it:
 * a sweep killed at any moment leaves the file with or without the new run, never a broken
 * one. */
#ifndef ENGINE_IO_RESULTS_H
#define ENGINE_IO_RESULTS_H

#include "checkpoint.h"

#define ENG_RESULTS_FORMAT "engine-sweep"
#define ENG_RESULTS_VERSION 2

/* What reading a results file found. Format 1 files (written before 30 Nov 2026) still read:
 * they pass the same audit of structure, types and sizes as format 2, but carry no checksum of
 * their objects, so a corruption that keeps the structure valid goes unnoticed. */
typedef struct eng_results_info {
    int version;      /* 2, or 1 for an older file; 0 when there was no file */
    bool checksummed; /* every object's attributes matched their CRC-32 (format 2) */
    bool file_crc;    /* the engine header's CRC-32 of the whole file matched (format 2, and
                       * format 1 files written from 30 Nov 05:12) */
} eng_results_info;

/* Appends run under key (1 to 255 characters, no '/'; an existing key is an ENG_EARG error). */
ENG_MUST_CHECK eng_status eng_results_append(const char *path, const char *key,
                                             const eng_meta *run);
/* Every run recorded in path as a table key -> run table, in the order they were appended;
 * an empty table when the file does not exist. [out] *out owned by the caller. */
ENG_MUST_CHECK eng_status eng_results_read(const char *path, eng_meta **out);
/* The same, saying what kind of file it was. [out] *info. */
ENG_MUST_CHECK eng_status eng_results_read_info(const char *path, eng_meta **out,
                                                eng_results_info *info);

#endif
