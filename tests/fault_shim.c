/* Make the Nth call of one kind fail, the way SQLite's tests inject I/O errors; or stop the
 * process at the Nth opening of a file, for a test to change the world at that point.
 *
 * Loaded with LD_PRELOAD into a `lifecycle` run by the tests (faultlib.py compiles it).
 *   LC_FAULT_CALL   write | fsync | rename | link | mkdir   (the kind of call to fail)
 *   LC_FAULT_N      which call of that kind fails (1 = the first); every other call works
 *   LC_FAULT_ERRNO  the error it fails with (default EIO)
 *   LC_FAULT_LOG    a file that gets one line when the fault was injected: "KIND N"
 * Writes count only when they go to a regular file (not the standard streams, pipes or the
 * eventfds Polars' threads wake each other with); write, writev, pwrite are one kind, fsync
 * and fdatasync one, rename/renameat/renameat2 one, link/linkat one, mkdir/mkdirat one.
 *
 *   LC_PAUSE_NAME   a file name, or an fnmatch(3) pattern of one: the process stops itself
 *   LC_PAUSE_N      (SIGSTOP) when it is about to open that file for the Nth time (open, open64,
 *                   openat, openat64), and goes on once the test sends SIGCONT; the line
 *                   "pause N" goes to LC_FAULT_LOG first. Every opening of the file logs "open N"
 *                   there (0 as N: count, never stop).
 *   LC_PAUSE_CALL   write | fsync | rename: stop at the Nth call of that kind on the file instead
 *                   of at its opening (a write or fsync of a descriptor open on it, a rename of
 *                   it); each such call logs "KIND N". Lets a test act at a chosen point of a
 *                   write: its first or last block, the sync, the rename that commits it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/uio.h>
#include <unistd.h>

static long counter;
static long opened;

static void log_line(const char *kind, long n) {
    const char *log = getenv("LC_FAULT_LOG");
    if (log == NULL) return;
    char line[64];
    int len = snprintf(line, sizeof line, "%s %ld\n", kind, n);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        /* the real write: this one must not count */
        ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
        real_write(fd, line, (size_t)len);
        close(fd);
    }
}

/* Stop here (SIGSTOP: every thread) when this `kind` of call (open, write, fsync, rename) on
 * `path` is the one to pause at, for the Nth time. */
static void pause_at(const char *kind, const char *path) {
    const char *name = getenv("LC_PAUSE_NAME");
    const char *n = getenv("LC_PAUSE_N");
    const char *call = getenv("LC_PAUSE_CALL");
    if (name == NULL || n == NULL || path == NULL) return;
    if (strcmp(call != NULL ? call : "open", kind) != 0) return;
    const char *base = strrchr(path, '/');
    if (fnmatch(name, base != NULL ? base + 1 : path, 0) != 0) return;
    long at = __atomic_add_fetch(&opened, 1, __ATOMIC_SEQ_CST);
    log_line(kind, at);
    if (at != atol(n)) return;
    log_line("pause", at);
    raise(SIGSTOP);
}

static void maybe_pause(const char *path) { pause_at("open", path); }

/* The same for a call on a descriptor: the file it is open on, when a pause at `kind` is asked. */
static void maybe_pause_fd(const char *kind, int fd) {
    const char *call = getenv("LC_PAUSE_CALL");
    if (call == NULL || strcmp(call, kind) != 0) return;
    struct stat st;  /* writes count on regular files only, as the faults do */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len <= 0) return;
    path[len] = '\0';
    pause_at(kind, path);
}

static int kind_is(const char *kind) {
    const char *want = getenv("LC_FAULT_CALL");
    return want != NULL && strcmp(want, kind) == 0;
}

/* Whether this call of `kind` is the one to fail: counts it, and logs the fault when it is. */
static int fail_now(const char *kind) {
    if (!kind_is(kind)) return 0;
    const char *n = getenv("LC_FAULT_N");
    long at = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    if (n == NULL || at != atol(n)) return 0;
    log_line(kind, at);
    const char *code = getenv("LC_FAULT_ERRNO");
    errno = code != NULL ? atoi(code) : EIO;
    return 1;
}

static int regular(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

#define REAL(ret, name, ...) \
    static ret (*real)(__VA_ARGS__); \
    if (real == NULL) real = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

ssize_t write(int fd, const void *buf, size_t count) {
    REAL(ssize_t, "write", int, const void *, size_t);
    if (kind_is("write") && regular(fd) && fail_now("write")) return -1;
    maybe_pause_fd("write", fd);
    return real(fd, buf, count);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    REAL(ssize_t, "writev", int, const struct iovec *, int);
    if (kind_is("write") && regular(fd) && fail_now("write")) return -1;
    maybe_pause_fd("write", fd);
    return real(fd, iov, iovcnt);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    REAL(ssize_t, "pwrite", int, const void *, size_t, off_t);
    if (kind_is("write") && regular(fd) && fail_now("write")) return -1;
    maybe_pause_fd("write", fd);
    return real(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    REAL(ssize_t, "pwrite64", int, const void *, size_t, off_t);
    if (kind_is("write") && regular(fd) && fail_now("write")) return -1;
    maybe_pause_fd("write", fd);
    return real(fd, buf, count, offset);
}

int fsync(int fd) {
    REAL(int, "fsync", int);
    if (fail_now("fsync")) return -1;
    maybe_pause_fd("fsync", fd);
    return real(fd);
}

int fdatasync(int fd) {
    REAL(int, "fdatasync", int);
    if (fail_now("fsync")) return -1;
    maybe_pause_fd("fsync", fd);
    return real(fd);
}

int rename(const char *from, const char *to) {
    REAL(int, "rename", const char *, const char *);
    if (fail_now("rename")) return -1;
    pause_at("rename", from);
    return real(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
    REAL(int, "renameat", int, const char *, int, const char *);
    if (fail_now("rename")) return -1;
    pause_at("rename", from);
    return real(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags) {
    REAL(int, "renameat2", int, const char *, int, const char *, unsigned int);
    if (fail_now("rename")) return -1;
    pause_at("rename", from);
    return real(fromfd, from, tofd, to, flags);
}

int link(const char *from, const char *to) {
    REAL(int, "link", const char *, const char *);
    if (fail_now("link")) return -1;
    return real(from, to);
}

int linkat(int fromfd, const char *from, int tofd, const char *to, int flags) {
    REAL(int, "linkat", int, const char *, int, const char *, int);
    if (fail_now("link")) return -1;
    return real(fromfd, from, tofd, to, flags);
}

int mkdir(const char *path, mode_t mode) {
    REAL(int, "mkdir", const char *, mode_t);
    if (fail_now("mkdir")) return -1;
    return real(path, mode);
}

int mkdirat(int dirfd, const char *path, mode_t mode) {
    REAL(int, "mkdirat", int, const char *, mode_t);
    if (fail_now("mkdir")) return -1;
    return real(dirfd, path, mode);
}

/* The opens take a mode only with O_CREAT or O_TMPFILE. */
#define MODE(flags, mode) \
    if ((flags) & (O_CREAT | O_TMPFILE)) { va_list args; va_start(args, flags); \
        mode = va_arg(args, int); va_end(args); }

int open(const char *path, int flags, ...) {
    REAL(int, "open", const char *, int, ...);
    int mode = 0;
    MODE(flags, mode);
    maybe_pause(path);
    return real(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    REAL(int, "open64", const char *, int, ...);
    int mode = 0;
    MODE(flags, mode);
    maybe_pause(path);
    return real(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    REAL(int, "openat", int, const char *, int, ...);
    int mode = 0;
    MODE(flags, mode);
    maybe_pause(path);
    return real(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    REAL(int, "openat64", int, const char *, int, ...);
    int mode = 0;
    MODE(flags, mode);
    maybe_pause(path);
    return real(dirfd, path, flags, mode);
}
