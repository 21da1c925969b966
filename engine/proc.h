/* Child processes for isolated sweep runs: start a program with extra environment variables,
 * its output sent to a log file and an optional memory limit; poll it without blocking; stop
 * it. POSIX (fork/exec, waitpid); the child dies with its parent on Linux (PR_SET_PDEATHSIG),
 * so a killed sweep leaves no orphaned runs behind. */
#ifndef ENGINE_PROC_H
#define ENGINE_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

typedef struct eng_proc_options {
    const char *const *env; /* [optional] NULL-terminated "NAME=value" strings added to ours */
    const char *log_path;   /* [optional] stdout and stderr go to this file (truncated) */
    int64_t memory_bytes;   /* [optional] address-space limit (RLIMIT_AS) when > 0 */
} eng_proc_options;

typedef enum eng_proc_state {
    ENG_PROC_RUNNING = 0,
    ENG_PROC_EXITED,   /* returned from main or called exit: `code` holds the status */
    ENG_PROC_SIGNALED, /* ended by a signal: `signal` holds its number */
} eng_proc_state;

typedef struct eng_proc_status {
    eng_proc_state state;
    int code;           /* exit status when EXITED */
    int signal;         /* signal number when SIGNALED */
    int64_t max_rss_kb; /* peak resident memory of the child when it has ended */
} eng_proc_status;

/* Starts argv[0] (looked up in PATH when it has no '/') with argv; [out] *pid. A program that
 * cannot be executed exits with status 127 and its log says why. */
ENG_MUST_CHECK eng_status eng_proc_spawn(const char *const *argv, const eng_proc_options *opt,
                                         pid_t *pid);
/* [out] *st: the child's state now, without blocking; once it has ended the child is reaped
 * and pid must not be polled again. */
ENG_MUST_CHECK eng_status eng_proc_poll(pid_t pid, eng_proc_status *st);
/* Sends sig to the child (ENG_EARG for an unknown signal). */
ENG_MUST_CHECK eng_status eng_proc_kill(pid_t pid, int sig);
/* "SIGSEGV" for 11, ...; "signal N" for one without a name here. */
const char *eng_proc_signal_name(int sig, char buf[32]);

#endif
