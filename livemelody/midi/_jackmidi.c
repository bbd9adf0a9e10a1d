/* livemelody's two JACK MIDI ports in one JACK client, with a process callback in C.
 *
 * Loaded with ctypes by livemelody/midi/jackports.py (no Python C-API here): the process
 * callback runs on JACK's real-time thread and never touches Python, so it never waits for
 * the engine process's GIL. It only moves bytes:
 *   - input: each event of the period (system exclusive dropped) is stamped on
 *     CLOCK_MONOTONIC (the start of the period, now minus jack_frames_since_cycle_start, plus
 *     the event's frame offset, never later than now) and with its JACK frame time
 *     (jack_last_frame_time + offset), and written to a lock-free ring buffer; one byte on a
 *     pipe wakes the reader (a Python thread blocked in lm_read, outside the GIL);
 *   - output: what the engine queued since the last period (lm_send, any thread) is written
 *     at the start of this period (frame 0), as RtMidi's JACK output does.
 *
 * Why not jack_frames_to_time / jack_get_cycle_times: JACK2 (1.9.21) keeps its time on
 * CLOCK_MONOTONIC_RAW, not CLOCK_MONOTONIC (Python's time.monotonic, the engine's clock);
 * measured here after 5.5 h of uptime the two were 248 ms apart (NTP's slewing).
 *
 * libjack is opened with dlopen (the path comes from Python), and the few prototypes used are
 * declared here: building needs only a C compiler, no JACK headers (libjack-jackd2-dev), and
 * a machine without libjack gets a clear error at open, never a failed link.
 *
 * Build: cc -O2 -fPIC -shared -o _jackmidi.so _jackmidi.c -ldl -lpthread
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the JACK API used (jack/types.h, jack/jack.h, jack/midiport.h, jack/ringbuffer.h) ---- */
typedef uint32_t jack_nframes_t;
typedef struct _jack_client jack_client_t;
typedef struct _jack_port jack_port_t;
typedef struct {
    jack_nframes_t time;
    size_t size;
    unsigned char *buffer;
} jack_midi_event_t;
typedef struct _jack_ringbuffer jack_ringbuffer_t;

enum { JackNoStartServer = 0x01 };
enum { JackPortIsInput = 0x1, JackPortIsOutput = 0x2 };
#define JACK_DEFAULT_MIDI_TYPE "8 bit raw midi"

static struct {
    void *lib;
    jack_client_t *(*client_open)(const char *, int, int *, ...);
    int (*client_close)(jack_client_t *);
    char *(*get_client_name)(jack_client_t *);
    jack_port_t *(*port_register)(jack_client_t *, const char *, const char *, unsigned long, unsigned long);
    const char *(*port_name)(const jack_port_t *);
    void *(*port_get_buffer)(jack_port_t *, jack_nframes_t);
    int (*set_process_callback)(jack_client_t *, int (*)(jack_nframes_t, void *), void *);
    void (*on_shutdown)(jack_client_t *, void (*)(void *), void *);
    int (*activate)(jack_client_t *);
    int (*deactivate)(jack_client_t *);
    jack_nframes_t (*get_sample_rate)(jack_client_t *);
    jack_nframes_t (*frames_since_cycle_start)(const jack_client_t *);
    jack_nframes_t (*last_frame_time)(const jack_client_t *);
    const char **(*get_ports)(jack_client_t *, const char *, const char *, unsigned long);
    void (*jfree)(void *);
    int (*connect)(jack_client_t *, const char *, const char *);
    int (*port_disconnect)(jack_client_t *, jack_port_t *);
    void (*set_error_function)(void (*)(const char *));
    void (*set_info_function)(void (*)(const char *));
    uint32_t (*midi_get_event_count)(void *);
    int (*midi_event_get)(jack_midi_event_t *, void *, uint32_t);
    void (*midi_clear_buffer)(void *);
    int (*midi_event_write)(void *, jack_nframes_t, const unsigned char *, size_t);
    jack_ringbuffer_t *(*rb_create)(size_t);
    void (*rb_free)(jack_ringbuffer_t *);
    int (*rb_mlock)(jack_ringbuffer_t *);
    size_t (*rb_read)(jack_ringbuffer_t *, char *, size_t);
    size_t (*rb_peek)(jack_ringbuffer_t *, char *, size_t);
    size_t (*rb_write)(jack_ringbuffer_t *, const char *, size_t);
    size_t (*rb_read_space)(const jack_ringbuffer_t *);
    size_t (*rb_write_space)(const jack_ringbuffer_t *);
} J;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[512];

static void on_error(const char *message) { /* JACK's own diagnostics: kept for lm_last_error, not printed */
    snprintf(last_error, sizeof last_error, "%s", message);
}

static void on_info(const char *message) { (void)message; }

#define SYM(field, name)                                  \
    do {                                                  \
        *(void **)(&J.field) = dlsym(J.lib, name);        \
        if (J.field == NULL) {                            \
            snprintf(err, errlen, "libjack has no %s", name); \
            return -1;                                    \
        }                                                 \
    } while (0)

static int load(const char *path, char *err, size_t errlen) {
    if (J.lib != NULL) return 0;
    void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (lib == NULL) {
        snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
        return -1;
    }
    J.lib = lib;
    SYM(client_open, "jack_client_open");
    SYM(client_close, "jack_client_close");
    SYM(get_client_name, "jack_get_client_name");
    SYM(port_register, "jack_port_register");
    SYM(port_name, "jack_port_name");
    SYM(port_get_buffer, "jack_port_get_buffer");
    SYM(set_process_callback, "jack_set_process_callback");
    SYM(on_shutdown, "jack_on_shutdown");
    SYM(activate, "jack_activate");
    SYM(deactivate, "jack_deactivate");
    SYM(get_sample_rate, "jack_get_sample_rate");
    SYM(frames_since_cycle_start, "jack_frames_since_cycle_start");
    SYM(last_frame_time, "jack_last_frame_time");
    SYM(get_ports, "jack_get_ports");
    SYM(jfree, "jack_free");
    SYM(connect, "jack_connect");
    SYM(port_disconnect, "jack_port_disconnect");
    SYM(set_error_function, "jack_set_error_function");
    SYM(set_info_function, "jack_set_info_function");
    SYM(midi_get_event_count, "jack_midi_get_event_count");
    SYM(midi_event_get, "jack_midi_event_get");
    SYM(midi_clear_buffer, "jack_midi_clear_buffer");
    SYM(midi_event_write, "jack_midi_event_write");
    SYM(rb_create, "jack_ringbuffer_create");
    SYM(rb_free, "jack_ringbuffer_free");
    SYM(rb_mlock, "jack_ringbuffer_mlock");
    SYM(rb_read, "jack_ringbuffer_read");
    SYM(rb_peek, "jack_ringbuffer_peek");
    SYM(rb_write, "jack_ringbuffer_write");
    SYM(rb_read_space, "jack_ringbuffer_read_space");
    SYM(rb_write_space, "jack_ringbuffer_write_space");
    J.set_error_function(on_error);
    J.set_info_function(on_info);
    return 0;
}

/* ---- one client ---------------------------------------------------------------------- */
#define MAX_EVENT 1024 /* bytes of one MIDI message either way (longer ones are dropped, counted) */
#define RING_BYTES (1 << 17)

typedef struct {
    double stamp;   /* CLOCK_MONOTONIC seconds */
    uint32_t frame; /* JACK frame time: jack_last_frame_time + offset */
    uint32_t size;  /* bytes of MIDI data that follow */
} in_header;

typedef struct {
    uint32_t size;
} out_header;

typedef struct {
    jack_client_t *client;
    jack_port_t *in, *out;
    jack_ringbuffer_t *inbox, *outbox;
    int wake[2]; /* [0] the reader polls, [1] the process callback writes */
    double rate;
    pthread_mutex_t send_lock; /* one writer at a time into outbox (the ring is single-producer) */
    atomic_int accepting;
    atomic_int gone;
    atomic_uint_fast64_t periods, received, in_dropped, sent, out_dropped;
} lm_client;

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void wake(lm_client *c) {
    char byte = 1;
    ssize_t ignored = write(c->wake[1], &byte, 1); /* non-blocking: a full pipe is already awake */
    (void)ignored;
}

/* JACK's real-time thread: no locks, no allocation, no Python. */
static int process(jack_nframes_t nframes, void *arg) {
    lm_client *c = arg;
    void *in = J.port_get_buffer(c->in, nframes);
    void *out = J.port_get_buffer(c->out, nframes);
    if (atomic_load_explicit(&c->accepting, memory_order_relaxed)) {
        uint32_t count = J.midi_get_event_count(in);
        if (count) {
            double now = monotonic();
            double start = now - J.frames_since_cycle_start(c->client) / c->rate;
            jack_nframes_t base = J.last_frame_time(c->client);
            int woken = 0;
            char record[sizeof(in_header) + MAX_EVENT];
            for (uint32_t i = 0; i < count; i++) {
                jack_midi_event_t event;
                if (J.midi_event_get(&event, in, i) != 0 || event.size == 0 || event.buffer[0] == 0xF0) continue;
                if (event.size > MAX_EVENT ||
                    J.rb_write_space(c->inbox) < sizeof(in_header) + event.size) {
                    atomic_fetch_add_explicit(&c->in_dropped, 1, memory_order_relaxed);
                    continue;
                }
                in_header header;
                header.stamp = start + event.time / c->rate;
                if (header.stamp > now) header.stamp = now;
                header.frame = base + event.time;
                header.size = (uint32_t)event.size;
                memcpy(record, &header, sizeof header);
                memcpy(record + sizeof header, event.buffer, event.size);
                J.rb_write(c->inbox, record, sizeof header + event.size); /* one write: never half a record */
                atomic_fetch_add_explicit(&c->received, 1, memory_order_relaxed);
                woken = 1;
            }
            if (woken) wake(c);
        }
    }
    J.midi_clear_buffer(out);
    int written = 0;
    for (;;) {
        out_header header;
        size_t space = J.rb_read_space(c->outbox);
        if (space < sizeof header) break;
        J.rb_peek(c->outbox, (char *)&header, sizeof header);
        if (space < sizeof header + header.size) break; /* cannot happen: written whole */
        unsigned char record[sizeof(out_header) + MAX_EVENT];
        J.rb_peek(c->outbox, (char *)record, sizeof header + header.size);
        if (J.midi_event_write(out, 0, record + sizeof header, header.size) != 0) {
            if (written) break; /* the port buffer is full: the rest goes next period */
            atomic_fetch_add_explicit(&c->out_dropped, 1, memory_order_relaxed); /* never fits: dropped */
        } else {
            written++;
            atomic_fetch_add_explicit(&c->sent, 1, memory_order_relaxed);
        }
        J.rb_read(c->outbox, (char *)record, sizeof header + header.size);
    }
    atomic_fetch_add_explicit(&c->periods, 1, memory_order_release);
    return 0;
}

static void shutdown_cb(void *arg) {
    lm_client *c = arg;
    atomic_store(&c->gone, 1);
    wake(c);
}

static void destroy(lm_client *c) {
    if (c->inbox) J.rb_free(c->inbox);
    if (c->outbox) J.rb_free(c->outbox);
    if (c->wake[0] >= 0) close(c->wake[0]);
    if (c->wake[1] >= 0) close(c->wake[1]);
    pthread_mutex_destroy(&c->send_lock);
    free(c);
}

/* ---- what Python calls (ctypes releases the GIL around each call) ---------------------- */

/* Open a client named `name` (JACK may add a suffix), register "in_name" and "out_name",
 * activate. Returns NULL with `*status` (jack_status_t, 0 if JACK was never reached) and a
 * line in `err` on failure. */
lm_client *lm_open(const char *libjack, const char *name, const char *in_name, const char *out_name, int *status,
                   char *err, size_t errlen) {
    *status = 0;
    pthread_mutex_lock(&load_lock);
    int loaded = load(libjack, err, errlen);
    pthread_mutex_unlock(&load_lock);
    if (loaded != 0) return NULL;
    lm_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->wake[0] = c->wake[1] = -1;
    pthread_mutex_init(&c->send_lock, NULL);
    if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        destroy(c);
        return NULL;
    }
    c->inbox = J.rb_create(RING_BYTES);
    c->outbox = J.rb_create(RING_BYTES);
    if (c->inbox == NULL || c->outbox == NULL) {
        snprintf(err, errlen, "cannot create JACK ring buffers");
        destroy(c);
        return NULL;
    }
    J.rb_mlock(c->inbox); /* best effort: no page faults on the real-time thread */
    J.rb_mlock(c->outbox);
    last_error[0] = 0;
    c->client = J.client_open(name, JackNoStartServer, status);
    if (c->client == NULL) {
        snprintf(err, errlen, "%s", last_error[0] ? last_error : "cannot open a JACK client");
        destroy(c);
        return NULL;
    }
    c->rate = J.get_sample_rate(c->client);
    c->in = J.port_register(c->client, in_name, JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
    c->out = J.port_register(c->client, out_name, JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput, 0);
    atomic_store(&c->accepting, 1);
    if (c->in == NULL || c->out == NULL || J.set_process_callback(c->client, process, c) != 0) {
        snprintf(err, errlen, "cannot register the JACK ports%s%s", last_error[0] ? ": " : "", last_error);
        J.client_close(c->client);
        destroy(c);
        return NULL;
    }
    J.on_shutdown(c->client, shutdown_cb, c);
    if (J.activate(c->client) != 0) {
        snprintf(err, errlen, "cannot activate the JACK client%s%s", last_error[0] ? ": " : "", last_error);
        J.client_close(c->client);
        destroy(c);
        return NULL;
    }
    return c;
}

const char *lm_client_name(lm_client *c) { return J.get_client_name(c->client); }

/* which: 0 the input, 1 the output */
const char *lm_port_name(lm_client *c, int which) { return J.port_name(which ? c->out : c->in); }

double lm_rate(lm_client *c) { return c->rate; }

int lm_gone(lm_client *c) { return atomic_load(&c->gone); }

const char *lm_last_error(void) { return last_error; }

/* Stop (1) or resume (0) taking input events. */
void lm_set_accepting(lm_client *c, int accepting) { atomic_store(&c->accepting, accepting); }

/* counters: periods, received, input dropped, sent, output dropped */
void lm_counters(lm_client *c, uint64_t *out) {
    out[0] = atomic_load(&c->periods);
    out[1] = atomic_load(&c->received);
    out[2] = atomic_load(&c->in_dropped);
    out[3] = atomic_load(&c->sent);
    out[4] = atomic_load(&c->out_dropped);
}

/* Wait up to timeout_ms for input, then copy whole records (in_header + bytes) into buf.
 * Returns the bytes copied (0: nothing within the timeout, or woken by lm_wake). One reader. */
long lm_read(lm_client *c, char *buf, size_t cap, int timeout_ms) {
    if (J.rb_read_space(c->inbox) == 0) {
        struct pollfd fd = {c->wake[0], POLLIN, 0};
        poll(&fd, 1, timeout_ms);
        char sink[256];
        while (read(c->wake[0], sink, sizeof sink) > 0) {
        }
    }
    size_t used = 0;
    for (;;) {
        in_header header;
        size_t space = J.rb_read_space(c->inbox);
        if (space < sizeof header) break;
        J.rb_peek(c->inbox, (char *)&header, sizeof header);
        size_t whole = sizeof header + header.size;
        if (space < whole || used + whole > cap) break;
        J.rb_read(c->inbox, buf + used, whole);
        used += whole;
    }
    return (long)used;
}

/* End a reader's lm_read now (it returns what is there, maybe nothing). */
void lm_wake(lm_client *c) { wake(c); }

/* Queue one message for the next period. 0: queued; -1: too long; -2: the queue is full. */
int lm_send(lm_client *c, const unsigned char *data, size_t size) {
    if (size == 0 || size > MAX_EVENT) return -1;
    char record[sizeof(out_header) + MAX_EVENT];
    out_header header = {(uint32_t)size};
    memcpy(record, &header, sizeof header);
    memcpy(record + sizeof header, data, size);
    int result = 0;
    pthread_mutex_lock(&c->send_lock);
    if (J.rb_write_space(c->outbox) < sizeof header + size)
        result = -2;
    else
        J.rb_write(c->outbox, record, sizeof header + size);
    pthread_mutex_unlock(&c->send_lock);
    return result;
}

/* Bytes queued for output that no period has taken yet. */
size_t lm_pending_output(lm_client *c) { return J.rb_read_space(c->outbox); }

/* Names of other clients' MIDI ports with `flags` (JackPortIsOutput: sources; JackPortIsInput:
 * destinations), '\n'-separated into buf. Returns the length needed (the caller retries with
 * a bigger buf if that is >= cap), or -1 if JACK gave no list. */
long lm_ports(lm_client *c, unsigned long flags, char *buf, size_t cap) {
    const char **names = J.get_ports(c->client, NULL, JACK_DEFAULT_MIDI_TYPE, flags);
    if (names == NULL) {
        if (cap) buf[0] = 0;
        return 0;
    }
    size_t used = 0;
    for (size_t i = 0; names[i] != NULL; i++) {
        size_t n = strlen(names[i]);
        if (used + n + 1 < cap) {
            memcpy(buf + used, names[i], n);
            buf[used + n] = '\n';
        }
        used += n + 1;
    }
    if (used < cap) buf[used] = 0;
    J.jfree(names);
    return (long)used;
}

/* jack_connect: 0, EEXIST (already connected) or another non-zero code. */
int lm_connect(lm_client *c, const char *source, const char *destination) {
    last_error[0] = 0;
    return J.connect(c->client, source, destination);
}

int lm_disconnect_all(lm_client *c, int which) { return J.port_disconnect(c->client, which ? c->out : c->in); }

/* Deactivate (waits for a running process callback) and close the client, free everything.
 * Once only; the caller makes sure no other call on `c` runs or follows. */
void lm_close(lm_client *c) {
    atomic_store(&c->accepting, 0);
    if (!atomic_load(&c->gone)) J.deactivate(c->client);
    J.client_close(c->client);
    destroy(c);
}
