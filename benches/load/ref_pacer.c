/*
 * ref_pacer: the minimal reference sender of the load benchmark (benches/load.sh).
 *
 * Sends N RTP-like streams (12-byte RTP header + 160 bytes of A-law silence = 172 bytes, the
 * size of the daemon's PCMA packets) every 20 ms to a loopback port. Frame n of every stream
 * is due at epoch + n * 20 ms and the sender sleeps with clock_nanosleep(TIMER_ABSTIME) until
 * then: this is the best a plain user-space process can do on this machine, so its
 * inter-arrival gaps, captured in the same run and under the same load as the daemon's, are
 * the floor the daemon is compared with.
 *
 * Each stream has its own socket bound to its own source port (like one call's RTP socket);
 * all streams go to one receiving socket that a second thread drains, so the packets cost a
 * receive as well as a send, like the daemon's packets that SIPp reads.
 *
 *   ref_pacer STREAMS SECONDS [SRC_PORT_BASE [DST_PORT]]
 *
 * Defaults: source ports 12000, 12002, ... and destination port 11998 on 127.0.0.1.
 * Build: gcc -O2 -Wall -o ref_pacer ref_pacer.c -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_NS 20000000LL
#define PKT_LEN 172

static volatile int stop_receiver;

static void *drain(void *arg) {
    int fd = *(int *)arg;
    char buf[2048];
    while (!stop_receiver) {
        /* Blocking with a timeout (SO_RCVTIMEO) so the thread notices the end. */
        (void)recv(fd, buf, sizeof buf, 0);
    }
    return NULL;
}

static void add_ns(struct timespec *t, long long ns) {
    long long total = (long long)t->tv_nsec + ns;
    t->tv_sec += total / 1000000000LL;
    t->tv_nsec = total % 1000000000LL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s STREAMS SECONDS [SRC_PORT_BASE [DST_PORT]]\n", argv[0]);
        return 2;
    }
    int streams = atoi(argv[1]);
    int seconds = atoi(argv[2]);
    int src_base = argc > 3 ? atoi(argv[3]) : 12000;
    int dst_port = argc > 4 ? atoi(argv[4]) : 11998;
    if (streams < 1 || seconds < 1) {
        fprintf(stderr, "expected STREAMS >= 1 and SECONDS >= 1, found %d and %d\n", streams,
                seconds);
        return 2;
    }

    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(dst_port)};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);

    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    int rcvbuf = 8 << 20;
    setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (bind(rx, (struct sockaddr *)&dst, sizeof dst) != 0) {
        fprintf(stderr, "bind 127.0.0.1:%d: %s\n", dst_port, strerror(errno));
        return 1;
    }
    pthread_t rx_thread;
    pthread_create(&rx_thread, NULL, drain, &rx);

    int *fds = calloc((size_t)streams, sizeof *fds);
    for (int i = 0; i < streams; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(src_base + 2 * i)};
        inet_pton(AF_INET, "127.0.0.1", &src.sin_addr);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&src, sizeof src) != 0) {
            fprintf(stderr, "bind 127.0.0.1:%d: %s\n", src_base + 2 * i, strerror(errno));
            return 1;
        }
    }

    unsigned char pkt[PKT_LEN];
    memset(pkt, 0xD5, sizeof pkt); /* A-law silence */
    pkt[0] = 0x80;                 /* V=2 */
    pkt[1] = 8;                    /* PT 8 = PCMA */

    struct timespec epoch;
    clock_gettime(CLOCK_MONOTONIC, &epoch);
    add_ns(&epoch, FRAME_NS);
    long long frames = (long long)seconds * 50;
    long long send_errors = 0;
    for (long long n = 0; n < frames; n++) {
        /* Absolute deadline from the epoch: a late wake-up never shifts the next one. */
        struct timespec due = epoch;
        add_ns(&due, n * FRAME_NS);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR) {
        }
        uint16_t seq = (uint16_t)n;
        uint32_t ts = (uint32_t)(n * 160);
        for (int i = 0; i < streams; i++) {
            uint32_t ssrc = 0x52454600u + (uint32_t)i; /* "REF" + index */
            pkt[2] = seq >> 8;
            pkt[3] = seq & 0xff;
            pkt[4] = ts >> 24;
            pkt[5] = (ts >> 16) & 0xff;
            pkt[6] = (ts >> 8) & 0xff;
            pkt[7] = ts & 0xff;
            pkt[8] = ssrc >> 24;
            pkt[9] = (ssrc >> 16) & 0xff;
            pkt[10] = (ssrc >> 8) & 0xff;
            pkt[11] = ssrc & 0xff;
            if (sendto(fds[i], pkt, sizeof pkt, 0, (struct sockaddr *)&dst, sizeof dst) < 0) {
                send_errors++;
            }
        }
    }
    stop_receiver = 1;
    pthread_join(rx_thread, NULL);
    printf("ref_pacer: %d streams, %lld frames each, %lld send errors\n", streams, frames,
           send_errors);
    return 0;
}
