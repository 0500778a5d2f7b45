/*
 * hatoba-monitor: the second half of a container's shim (runtime/shim.py), for the rest of
 * the container's life.
 *
 * The shim is a fork of a Python process: once its container runs it has ~2.3 MB of memory
 * of its own, and a thousand of them on a VM whose page tables are shadowed by the
 * hypervisor made every later start slower. So the shim, once crun has made the
 * container, executes this program in its own place (same pid, still the container's
 * subreaper, in its mount namespace), which keeps ~0.2 MB and does what the shim did:
 *
 * - copies the container's output to the json-file log (Docker's format: one JSON object
 *   per line) and to the attached clients, keeping it until the expected clients are
 *   there (at most until the deadline, or 4 MiB);
 * - serves the attach socket (protocol in runtime/shim.py): stdin, its close, tty resize;
 * - when the container has exited and its output is drained, writes exit.json, removes the
 *   attach socket and crun's state of the container.
 *
 *   hatoba-monitor DIR LOG_FD CRUN CRUN_ROOT ID PID ATTACH_FD EXPECT DEADLINE_NS
 *                  STDOUT_FD STDERR_FD STDIN_FD MASTER_FD
 *
 * DEADLINE_NS: CLOCK_MONOTONIC; a descriptor of -1 is absent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STDOUT_STREAM 1
#define STDERR_STREAM 2
#define BUFFER_LIMIT (4 << 20)
#define PARTIAL_LIMIT 16384
#define CHUNK 65536

struct bytes {
    unsigned char *data;
    size_t len, cap;
};

struct output {
    int fd, stream;
};

struct client {
    int fd, attach;
    struct bytes in;
};

static const char *dir, *crun, *crun_root, *id;
static pid_t container_pid;
static int status_known, status;
static int log_fd, stdin_fd, master_fd;
static struct output outputs[3];
static int n_outputs;
static struct client *clients;
static int n_clients, clients_cap;
static int expected_attach;
static int64_t deadline_ns;
static struct bytes buffered; /* records: stream byte, 4-byte length, data */
static size_t buffered_size;
static struct bytes partial[3]; /* a line's start, per stream, until its end arrives */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("hatoba-monitor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    exit(1);
}

static void append(struct bytes *b, const void *data, size_t len) {
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data)
            die("out of memory");
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void bytes_free(struct bytes *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* The length in a 5-byte header (a type or stream byte, then 4 bytes big-endian): a client's
 * frame and a kept piece of output alike. */
static size_t header_length(const unsigned char *header) {
    return ((size_t)header[1] << 24) | ((size_t)header[2] << 16) | ((size_t)header[3] << 8) |
           header[4];
}

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void rfc3339_now(char *out, size_t size) {
    struct timespec ts;
    struct tm tm;
    char secs[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%09ldZ", secs, ts.tv_nsec);
}

static void write_all(int fd, const unsigned char *data, size_t len) {
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

static void escape_code_point(struct bytes *out, uint32_t cp) {
    char esc[16];
    if (cp >= 0x10000) {
        cp -= 0x10000;
        snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
        snprintf(esc, sizeof esc, "\\u%04x", cp);
    }
    append(out, esc, strlen(esc));
}

/* The length of the valid UTF-8 sequence at s, or of its longest valid beginning (each
 * such maximal part is one U+FFFD, as Python's "replace" decodes): *cp is set when valid. */
static size_t utf8_sequence(const unsigned char *s, size_t len, uint32_t *cp, int *valid) {
    unsigned char c = s[0];
    size_t need, i;
    unsigned char low = 0x80, high = 0xbf;
    *valid = 0;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        *cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        *cp = c & 0x0f;
        if (c == 0xe0)
            low = 0xa0;
        if (c == 0xed)
            high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        *cp = c & 0x07;
        if (c == 0xf0)
            low = 0x90;
        if (c == 0xf4)
            high = 0x8f;
    } else {
        return 1;
    }
    for (i = 1; i < need; i++) {
        if (i >= len || s[i] < low || s[i] > high)
            return i;
        *cp = (*cp << 6) | (s[i] & 0x3f);
        low = 0x80;
        high = 0xbf;
    }
    *valid = 1;
    return need;
}

/* Python's json.dumps of the decoded text: ASCII only, as its default ensure_ascii. */
static void json_string(struct bytes *out, const unsigned char *s, size_t len) {
    size_t i = 0;
    append(out, "\"", 1);
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            uint32_t cp;
            int valid;
            i += utf8_sequence(s + i, len - i, &cp, &valid);
            escape_code_point(out, valid ? cp : 0xfffd);
            continue;
        }
        i++;
        if (c == '"')
            append(out, "\\\"", 2);
        else if (c == '\\')
            append(out, "\\\\", 2);
        else if (c == '\n')
            append(out, "\\n", 2);
        else if (c == '\r')
            append(out, "\\r", 2);
        else if (c == '\t')
            append(out, "\\t", 2);
        else if (c == '\b')
            append(out, "\\b", 2);
        else if (c == '\f')
            append(out, "\\f", 2);
        else if (c < 0x20 || c == 0x7f)
            escape_code_point(out, c);
        else
            append(out, &c, 1);
    }
    append(out, "\"", 1);
}

static void log_entry(struct bytes *out, int stream, const unsigned char *s, size_t len) {
    char now[64];
    const char *name = stream == STDOUT_STREAM ? "stdout" : "stderr";
    append(out, "{\"log\": ", 8);
    json_string(out, s, len);
    append(out, ", \"stream\": \"", 13);
    append(out, name, strlen(name));
    append(out, "\", \"time\": \"", 12);
    rfc3339_now(now, sizeof now);
    append(out, now, strlen(now));
    append(out, "\"}\n", 3);
}

static void write_log(struct bytes *entries) {
    if (entries->len)
        write_all(log_fd, entries->data, entries->len);
    bytes_free(entries);
}

static void log_write(int stream, const unsigned char *data, size_t len) {
    struct bytes out = {0}, *tail = &partial[stream];
    size_t start = 0, i;
    for (i = 0; i < len; i++) {
        if (data[i] != '\n')
            continue;
        append(tail, data + start, i + 1 - start);
        log_entry(&out, stream, tail->data, tail->len);
        tail->len = 0;
        start = i + 1;
    }
    append(tail, data + start, len - start);
    if (tail->len > PARTIAL_LIMIT) {
        log_entry(&out, stream, tail->data, tail->len);
        tail->len = 0;
    }
    write_log(&out);
}

static void log_flush(void) {
    struct bytes out = {0};
    for (int stream = STDOUT_STREAM; stream <= STDERR_STREAM; stream++) {
        if (partial[stream].len)
            log_entry(&out, stream, partial[stream].data, partial[stream].len);
        partial[stream].len = 0;
    }
    write_log(&out);
}

static void set_blocking(int fd, int blocking) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

static void drop(int index) {
    close(clients[index].fd);
    bytes_free(&clients[index].in);
    clients[index] = clients[--n_clients];
}

static int send_all(int fd, const unsigned char *data, size_t len) {
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void release_buffer(void);

static void send_output(int stream, const unsigned char *data, size_t len) {
    unsigned char header[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(len >> 24),
                               (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                               (unsigned char)len};
    if (expected_attach) {
        append(&buffered, header, 1);
        append(&buffered, header + 4, 4);
        append(&buffered, data, len);
        buffered_size += len;
        if (buffered_size > BUFFER_LIMIT)
            release_buffer();
        return;
    }
    for (int i = 0; i < n_clients;) {
        struct client *c = &clients[i];
        int failed = 0;
        if (c->attach) {
            set_blocking(c->fd, 1);
            failed = send_all(c->fd, header, 8) || send_all(c->fd, data, len);
            set_blocking(c->fd, 0);
        }
        if (failed)
            drop(i);
        else
            i++;
    }
}

static void release_buffer(void) {
    struct bytes pending = buffered;
    expected_attach = 0;
    memset(&buffered, 0, sizeof buffered);
    buffered_size = 0;
    for (size_t at = 0; at < pending.len;) {
        unsigned char *r = pending.data + at;
        size_t len = header_length(r);
        send_output(r[0], r + 5, len);
        at += 5 + len;
    }
    bytes_free(&pending);
}

static void reap(void) {
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            return;
        if (pid == container_pid) {
            status = st;
            status_known = 1;
        }
    }
}

static void close_output(int index) {
    int fd = outputs[index].fd;
    close(fd);
    if (fd == master_fd)
        master_fd = -1;
    outputs[index] = outputs[--n_outputs];
}

static void read_output(int index) {
    static unsigned char data[CHUNK];
    ssize_t n = read(outputs[index].fd, data, sizeof data);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) { /* EIO from a pty master once the last slave is closed */
        close_output(index);
        return;
    }
    log_write(outputs[index].stream, data, (size_t)n);
    send_output(outputs[index].stream, data, (size_t)n);
}

static void accept_clients(int listener) {
    for (;;) {
        struct timeval wait = {5, 0};
        char mode;
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
        if (recv(fd, &mode, 1, 0) != 1) {
            close(fd);
            continue;
        }
        set_blocking(fd, 0);
        if (n_clients == clients_cap) {
            clients_cap = clients_cap ? clients_cap * 2 : 8;
            clients = realloc(clients, sizeof *clients * (size_t)clients_cap);
            if (!clients)
                die("out of memory");
        }
        clients[n_clients] = (struct client){.fd = fd, .attach = mode == 'A'};
        n_clients++;
        if (mode == 'A' && expected_attach && --expected_attach == 0)
            release_buffer();
    }
}

static void handle_frame(int kind, const unsigned char *payload, size_t len) {
    int target = master_fd >= 0 ? master_fd : stdin_fd;
    if (kind == 0 && target >= 0) {
        write_all(target, payload, len);
    } else if (kind == 1 && stdin_fd >= 0) {
        close(stdin_fd);
        stdin_fd = -1;
    } else if (kind == 2 && master_fd >= 0) {
        char text[64];
        unsigned rows, cols;
        struct winsize size = {0};
        if (len >= sizeof text)
            return;
        memcpy(text, payload, len);
        text[len] = 0;
        if (sscanf(text, "%u %u", &rows, &cols) != 2)
            return;
        size.ws_row = (unsigned short)rows;
        size.ws_col = (unsigned short)cols;
        ioctl(master_fd, TIOCSWINSZ, &size);
    }
}

static void read_client(int index) {
    static unsigned char data[CHUNK];
    struct client *c = &clients[index];
    ssize_t n = recv(c->fd, data, sizeof data, 0);
    size_t at = 0;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop(index);
        return;
    }
    append(&c->in, data, (size_t)n);
    while (c->in.len - at >= 5) {
        unsigned char *f = c->in.data + at;
        size_t len = header_length(f);
        if (c->in.len - at < 5 + len)
            break;
        handle_frame(f[0], f + 5, len);
        at += 5 + len;
    }
    memmove(c->in.data, c->in.data + at, c->in.len - at);
    c->in.len -= at;
}

static int waiting_for_attach(void) {
    return expected_attach && monotonic_ns() < deadline_ns;
}

static void serve(int listener, int signals) {
    struct pollfd *fds = NULL;
    int fds_cap = 0;
    reap();
    while (n_outputs || !status_known || waiting_for_attach()) {
        int n = 0, outputs_at, clients_at, seen_outputs = n_outputs, seen_clients = n_clients;
        if (fds_cap < 2 + 3 + n_clients) {
            fds_cap = 2 + 3 + n_clients;
            fds = realloc(fds, sizeof *fds * (size_t)fds_cap);
            if (!fds)
                die("out of memory");
        }
        fds[n++] = (struct pollfd){.fd = listener, .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = signals, .events = POLLIN};
        outputs_at = n;
        for (int i = 0; i < n_outputs; i++)
            fds[n++] = (struct pollfd){.fd = outputs[i].fd, .events = POLLIN};
        clients_at = n;
        for (int i = 0; i < n_clients; i++)
            fds[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        if (poll(fds, (nfds_t)n, expected_attach ? 50 : -1) < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        if (fds[1].revents) {
            struct signalfd_siginfo info;
            while (read(signals, &info, sizeof info) == sizeof info)
                ;
            reap();
        }
        /* backwards: closing one moves the last into its place */
        for (int i = seen_outputs - 1; i >= 0; i--)
            if (fds[outputs_at + i].revents)
                read_output(i);
        for (int i = seen_clients - 1; i >= 0; i--)
            if (i < n_clients && fds[clients_at + i].revents)
                read_client(i);
        if (fds[0].revents)
            accept_clients(listener);
        if (expected_attach && monotonic_ns() > deadline_ns)
            release_buffer();
    }
    free(fds);
}

static void finish(int listener) {
    char path[4096], tmp[4096], now[64], record[160];
    int code = 0, fd;
    pid_t pid;
    release_buffer();
    log_flush();
    if (status_known && WIFEXITED(status))
        code = WEXITSTATUS(status);
    else if (status_known && WIFSIGNALED(status))
        code = 128 + WTERMSIG(status);
    rfc3339_now(now, sizeof now);
    snprintf(record, sizeof record, "{\"code\": %d, \"finished_at\": \"%s\"}", code, now);
    snprintf(tmp, sizeof tmp, "%s/exit.json.tmp", dir);
    snprintf(path, sizeof path, "%s/exit.json", dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("%s: %s", tmp, strerror(errno));
    write_all(fd, (const unsigned char *)record, strlen(record));
    close(fd);
    if (rename(tmp, path) < 0)
        die("%s: %s", path, strerror(errno));
    while (n_clients)
        drop(n_clients - 1);
    close(listener);
    snprintf(path, sizeof path, "%s/attach.sock", dir);
    unlink(path);
    pid = fork();
    if (pid == 0) {
        sigset_t none;
        int null = open("/dev/null", O_RDWR);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execl(crun, crun, "--root", crun_root, "delete", "--force", id, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
}

static int fd_arg(const char *text) {
    int fd = atoi(text);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

int main(int argc, char **argv) {
    sigset_t mask;
    int listener, signals, out_fd, err_fd;
    if (argc != 14)
        die("usage: hatoba-monitor DIR LOG_FD CRUN CRUN_ROOT ID PID ATTACH_FD EXPECT DEADLINE_NS "
            "STDOUT_FD STDERR_FD STDIN_FD MASTER_FD");
    dir = argv[1];
    log_fd = fd_arg(argv[2]);
    crun = argv[3];
    crun_root = argv[4];
    id = argv[5];
    container_pid = (pid_t)atoi(argv[6]);
    listener = fd_arg(argv[7]);
    expected_attach = atoi(argv[8]);
    deadline_ns = strtoll(argv[9], NULL, 10);
    out_fd = fd_arg(argv[10]);
    err_fd = fd_arg(argv[11]);
    stdin_fd = fd_arg(argv[12]);
    master_fd = fd_arg(argv[13]);
    if (out_fd >= 0)
        outputs[n_outputs++] = (struct output){out_fd, STDOUT_STREAM};
    if (err_fd >= 0)
        outputs[n_outputs++] = (struct output){err_fd, STDERR_STREAM};
    if (master_fd >= 0)
        outputs[n_outputs++] = (struct output){master_fd, STDOUT_STREAM};
    for (int i = 0; i < n_outputs; i++)
        set_blocking(outputs[i].fd, 0);
    set_blocking(listener, 0);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signals = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signals < 0)
        die("signalfd: %s", strerror(errno));
    serve(listener, signals);
    finish(listener);
    return 0;
}
