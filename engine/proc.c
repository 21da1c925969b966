#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

extern char **environ;

/* Our environment with opt->env added (an added NAME replaces ours); built before fork, since
 * between fork and exec only async-signal-safe calls are allowed. */
static char **merged_env(const char *const *add)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (add && add[k])
        k++;
    char **env = malloc(sizeof *env * (n + k + 1));
    if (!env)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t len = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < k && !replaced; j++)
            replaced = strncmp(add[j], environ[i], len) == 0;
        if (!replaced)
            env[m++] = environ[i];
    }
    for (size_t j = 0; j < k; j++)
        env[m++] = (char *)add[j];
    env[m] = NULL;
    return env;
}

/* The program's path: argv0 itself when it has a '/', else the first match in PATH. */
static char *find_program(const char *argv0)
{
    if (strchr(argv0, '/'))
        return strdup(argv0);
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    size_t cap = strlen(path) + strlen(argv0) + 2;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(buf, cap, "%.*s/%s", (int)len, p, argv0);
        if (access(buf, X_OK) == 0)
            return buf;
        p += len + (end ? 1 : 0);
    }
    snprintf(buf, cap, "%s", argv0);
    return buf;
}

static void child(const char *prog, const char *const *argv, char **env,
                  const eng_proc_options *opt, pid_t parent)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
#else
    (void)parent;
#endif
    if (opt && opt->log_path) {
        int fd = open(opt->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
    }
    if (opt && opt->memory_bytes > 0) {
        struct rlimit rl = {(rlim_t)opt->memory_bytes, (rlim_t)opt->memory_bytes};
        setrlimit(RLIMIT_AS, &rl);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(prog, (char *const *)argv, env);
    static const char msg[] = "engine: cannot execute the program\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

eng_status eng_proc_spawn(const char *const *argv, const eng_proc_options *opt, pid_t *pid)
{
    if (!argv || !argv[0])
        return eng_error(ENG_EARG, "spawn: no program given");
    char **env = merged_env(opt ? opt->env : NULL);
    char *prog = find_program(argv[0]);
    if (!env || !prog) {
        free(env);
        free(prog);
        return eng_error(ENG_ENOMEM, "spawn '%s': out of memory", argv[0]);
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t p = fork();
    if (p == 0)
        child(prog, argv, env, opt, parent);
    int err = errno;
    free(env);
    free(prog);
    if (p < 0)
        return eng_error(ENG_EIO, "spawn '%s': fork failed: %s", argv[0], strerror(err));
    *pid = p;
    return ENG_OK;
}

eng_status eng_proc_poll(pid_t pid, eng_proc_status *st)
{
    memset(st, 0, sizeof *st);
    int ws;
    struct rusage ru;
    pid_t r;
    do {
        r = wait4(pid, &ws, WNOHANG, &ru);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return eng_error(ENG_ESTATE, "poll: process %ld: %s", (long)pid, strerror(errno));
    if (r == 0)
        return ENG_OK;
    st->max_rss_kb = ru.ru_maxrss;
    if (WIFSIGNALED(ws)) {
        st->state = ENG_PROC_SIGNALED;
        st->signal = WTERMSIG(ws);
    } else {
        st->state = ENG_PROC_EXITED;
        st->code = WEXITSTATUS(ws);
    }
    return ENG_OK;
}

eng_status eng_proc_kill(pid_t pid, int sig)
{
    if (kill(pid, sig) < 0 && errno != ESRCH)
        return eng_error(ENG_EARG, "kill %ld with %d: %s", (long)pid, sig, strerror(errno));
    return ENG_OK;
}

const char *eng_proc_signal_name(int sig, char buf[32])
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
                 {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},
                 {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
                 {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
                 {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
                 {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    snprintf(buf, 32, "signal %d", sig);
    return buf;
}
