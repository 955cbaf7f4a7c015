/* The peer for bench/engine.py: the same back-to-back fax exchange as
 * lanfax.engine.run_loopback, written directly against spandsp 0.0.6 in C.
 *
 * usage: loop audio|t38 TX.tif RX.tif STEP ECM(0|1) REPS [nopace]
 * prints one line per run: "ok <0|1> pages <n> line_s <s> wall_s <s>"
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tiffio.h>
#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES
#include <spandsp.h>

#define MAX_PKTS 4096

typedef struct {
    int done;
    int code;
    /* T.38 packets queued by the tx handler, delivered after send_timeout returns. */
    int n;
    int seq;
    int len[MAX_PKTS];
    int seqs[MAX_PKTS];
    uint8_t buf[MAX_PKTS][512];
} side_t;

static void phase_e(t30_state_t *s, void *user_data, int code)
{
    side_t *side = (side_t *) user_data;
    side->done = 1;
    side->code = code;
}

static int tx_packet(t38_core_state_t *s, void *user_data, const uint8_t *buf, int len, int count)
{
    side_t *side = (side_t *) user_data;
    if (side->n < MAX_PKTS && len <= 512) {
        memcpy(side->buf[side->n], buf, len);
        side->len[side->n] = len;
        side->seqs[side->n] = side->seq;
        side->n++;
    }
    side->seq = (side->seq + 1) & 0xFFFF;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);  /* CPU time: honest on a loaded machine */
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void setup(t30_state_t *t30, int calling, const char *tx, const char *rx, int ecm,
                  side_t *side)
{
    t30_set_tx_ident(t30, calling ? "A" : "B");
    t30_set_ecm_capability(t30, ecm);
    t30_set_supported_modems(t30, T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17);
    t30_set_supported_compressions(t30, T30_SUPPORT_T4_1D_COMPRESSION
                                   | T30_SUPPORT_T4_2D_COMPRESSION | T30_SUPPORT_T6_COMPRESSION);
    if (calling)
        t30_set_tx_file(t30, tx, -1, -1);
    else
        t30_set_rx_file(t30, rx, -1);
    t30_set_phase_e_handler(t30, phase_e, side);
}

static int run_audio(const char *tx, const char *rx, int step, int ecm, long *samples)
{
    side_t a = {0}, b = {0};
    fax_state_t *fa = fax_init(NULL, 1), *fb = fax_init(NULL, 0);
    int16_t bufa[16000], bufb[16000];
    fax_set_transmit_on_idle(fa, 1);
    fax_set_transmit_on_idle(fb, 1);
    setup(fax_get_t30_state(fa), 1, tx, rx, ecm, &a);
    setup(fax_get_t30_state(fb), 0, tx, rx, ecm, &b);
    long n = 0;
    while (!(a.done && b.done) && n < 8000L * 600) {
        int ga = fax_tx(fa, bufa, step), gb = fax_tx(fb, bufb, step);
        if (ga < step) memset(bufa + ga, 0, (step - ga) * sizeof(int16_t));
        if (gb < step) memset(bufb + gb, 0, (step - gb) * sizeof(int16_t));
        fax_rx(fb, bufa, step);
        fax_rx(fa, bufb, step);
        n += step;
    }
    t30_stats_t st;
    t30_get_transfer_statistics(fax_get_t30_state(fb), &st);
    fax_free(fa);
    fax_free(fb);
    *samples = n;
    return (a.code == 0 && b.code == 0) ? st.pages_rx : -1;
}

static void deliver(side_t *from, t38_terminal_state_t *to)
{
    t38_core_state_t *core = t38_terminal_get_t38_core_state(to);
    /* Packets produced while delivering are queued behind; the loop drains them next tick. */
    int n = from->n;
    for (int i = 0; i < n; i++)
        t38_core_rx_ifp_packet(core, from->buf[i], from->len[i], (uint16_t) from->seqs[i]);
    memmove(from->buf, from->buf[n], (from->n - n) * sizeof(from->buf[0]));
    memmove(from->len, from->len + n, (from->n - n) * sizeof(int));
    memmove(from->seqs, from->seqs + n, (from->n - n) * sizeof(int));
    from->n -= n;
}

static int run_t38(const char *tx, const char *rx, int step, int ecm, int nopace, long *samples)
{
    static side_t a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    t38_terminal_state_t *ta = t38_terminal_init(NULL, 1, tx_packet, &a);
    t38_terminal_state_t *tb = t38_terminal_init(NULL, 0, tx_packet, &b);
    t38_terminal_set_config(ta, nopace ? T38_TERMINAL_OPTION_NO_PACING : 0);
    t38_terminal_set_config(tb, nopace ? T38_TERMINAL_OPTION_NO_PACING : 0);
    setup(t38_terminal_get_t30_state(ta), 1, tx, rx, ecm, &a);
    setup(t38_terminal_get_t30_state(tb), 0, tx, rx, ecm, &b);
    long n = 0;
    while (!(a.done && b.done) && n < 8000L * 600) {
        t38_terminal_send_timeout(ta, step);
        t38_terminal_send_timeout(tb, step);
        int na = a.n, nb = b.n;
        (void) na; (void) nb;
        deliver(&a, tb);
        deliver(&b, ta);
        n += step;
    }
    t30_stats_t st;
    t30_get_transfer_statistics(t38_terminal_get_t30_state(tb), &st);
    t38_terminal_free(ta);
    t38_terminal_free(tb);
    *samples = n;
    return (a.code == 0 && b.code == 0) ? st.pages_rx : -1;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s audio|t38 TX.tif RX.tif STEP ECM REPS [nopace]\n", argv[0]);
        return 2;
    }
    int t38 = strcmp(argv[1], "t38") == 0;
    int step = atoi(argv[4]), ecm = atoi(argv[5]), reps = atoi(argv[6]);
    int nopace = argc > 7 && strcmp(argv[7], "nopace") == 0;
    if (step <= 0 || step > 16000) return 2;
    for (int r = 0; r < reps; r++) {
        long samples = 0;
        double t0 = now();
        int pages = t38 ? run_t38(argv[2], argv[3], step, ecm, nopace, &samples)
                        : run_audio(argv[2], argv[3], step, ecm, &samples);
        double wall = now() - t0;
        printf("ok %d pages %d line_s %.2f wall_s %.6f\n", pages >= 0, pages, samples / 8000.0, wall);
        fflush(stdout);
    }
    return 0;
}
