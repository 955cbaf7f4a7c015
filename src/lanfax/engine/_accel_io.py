"""The compiled helper's part for calls on their own lines (issue #19): the C source of
:class:`~lanfax.engine.lines.T38Batch` (IFPs or UDPTL), :class:`~lanfax.engine.lines.RtpBatch`
(G.711 over RTP) and :mod:`lanfax.engine.dgram` (many datagrams in one call).

Only text: :mod:`lanfax.engine._accel` declares :data:`IO_TYPES` and :data:`IO_CDEF` to cffi
and compiles :data:`IO_HEADERS` + :data:`IO_TYPES` + :data:`IO_SOURCE` after its own source
(whose ``lf_sess_t``, ``lf_tx_full`` and error bits this code uses). The UDPTL and RTP rules
are those of ``providers/sip/udptl.py``, ``rtp.py`` and ``media.py``, byte for byte (the
engine's tests check them against those modules).
"""

from __future__ import annotations

#: Records only the compiled helper has (declared to cffi and compiled: written once).
IO_TYPES = """
typedef struct {
    int n;
    int bytes;
    int cap_n;
    int cap_bytes;
    int error;
    int *rec;
    uint8_t *data;
} lf_t38out_t;

#define LF_MAX_RED 16
typedef struct {
    int expected;
    long long received;
    long long recovered;
    long long lost;
    long long late;
    long long malformed;
    int redundancy;
    int max_datagram;
    int idle_repeats;
    int idle;
    int error;
    int hist_n;
    int hist_len[16];
    int hist_cap[16];
    uint8_t *hist[16];
    int last_len;
    int last_cap;
    int last_seq;
    uint8_t *last;
} lf_udptl_t;

#define LF_JB_SLOTS 64
typedef struct {
    int rx_pt;
    int tx_pt;
    unsigned int ssrc;
    unsigned int timestamp;
    int seq;
    int first;
    int depth;
    int capacity;
    int next;
    int started;
    int count;
    long long played;
    long long missing;
    long long late;
    int tags[64];
    int lens[64];
    uint8_t *frames;
    const uint8_t *enc;
    const int16_t *dec;
} lf_rtp_t;
"""

#: The functions Python calls.
IO_CDEF = """
void lf_t38out_release(lf_t38out_t *out);
void lf_udptl_release(lf_udptl_t *u);
int lf_step_rtp(fax_state_t **states, lf_sess_t **xs, int16_t **rx, int16_t **tx,
                lf_rtp_t **lines, int n, int base, int step, const int *in_rec, int in_n,
                const uint8_t *in_data, lf_t38out_t *out, int *flagged);
int lf_udptl_frame_one(lf_udptl_t *u, lf_t38out_t *out, int seq, const uint8_t *ifp, int len);
int lf_tick_t38(t38_terminal_state_t **states, t38_core_state_t **cores, lf_sess_t **xs,
                lf_udptl_t **lines, int n, int base, int step, const int *in_rec, int in_n,
                const uint8_t *in_data, int *rx_events, lf_t38out_t *out, int *flagged);
int lf_send_many(const int *fds, const int *offsets, const int *lengths, const int *dests,
                 int n, const uint8_t *data, int data_len, const uint8_t *addrs, int n_addrs,
                 int *err);
int lf_recv_many(const int *fds, int nfds, int max_per_fd, int max_dgram, uint8_t *buf,
                 int room, int *recs, int max_recs, int *err, int *state);
"""

IO_HEADERS = r"""
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
"""

IO_SOURCE = r"""
static void lf_t38out_release(lf_t38out_t *out)
{
    free(out->rec);
    free(out->data);
    out->rec = NULL;
    out->data = NULL;
    out->n = out->bytes = out->cap_n = out->cap_bytes = 0;
}

/* Room in ``out`` for ``recs`` more records and ``bytes`` more bytes: 0, or -1 (error set). */
static int lf_out_reserve(lf_t38out_t *out, int recs, int bytes)
{
    if (out->n + recs > out->cap_n) {
        int cap = out->cap_n ? 2 * out->cap_n : 256;
        while (cap < out->n + recs)
            cap *= 2;
        int *r = realloc(out->rec, (size_t) cap * 3 * sizeof(int));
        if (r == NULL) { out->error |= LF_ERR_MEMORY; return -1; }
        out->rec = r;
        out->cap_n = cap;
    }
    if (out->bytes + bytes > out->cap_bytes) {
        int cap = out->cap_bytes ? 2 * out->cap_bytes : 16384;
        while (cap < out->bytes + bytes)
            cap *= 2;
        uint8_t *d = realloc(out->data, cap);
        if (d == NULL) { out->error |= LF_ERR_MEMORY; return -1; }
        out->data = d;
        out->cap_bytes = cap;
    }
    return 0;
}

static void lf_out_push(lf_t38out_t *out, int i, int seq, const uint8_t *data, int len)
{
    memcpy(out->data + out->bytes, data, len);
    out->bytes += len;
    int *r = out->rec + 3 * out->n;
    r[0] = i;
    r[1] = seq;
    r[2] = len;
    out->n++;
}

/* Append session i's queued packets to ``out`` as they are (IFPs) and empty its queue. */
static int lf_t38out_take(lf_t38out_t *out, int i, lf_sess_t *x)
{
    int n = x->n_pk;
    if (n == 0)
        return 0;
    if (lf_out_reserve(out, n, x->pk_bytes) < 0)
        return -1;
    int at = 0;
    for (int j = 0; j < n; j++) {
        lf_out_push(out, i, x->pk_seq[j], x->pk_data + at, x->pk_len[j]);
        at += x->pk_len[j];
    }
    x->n_pk = 0;
    x->pk_bytes = 0;
    return 0;
}

/* -- UDPTL (T.38 Annex A/D 9.1), as providers/sip/udptl.py frames and reads it ------------- */

static void lf_udptl_release(lf_udptl_t *u)
{
    for (int k = 0; k < LF_MAX_RED; k++) {
        free(u->hist[k]);
        u->hist[k] = NULL;
        u->hist_cap[k] = u->hist_len[k] = 0;
    }
    free(u->last);
    u->last = NULL;
    u->last_cap = u->last_len = 0;
    u->hist_n = 0;
}

/* A PER length determinant at d[*pos]: one octet < 0x80, two octets 10xxxxxx; -1 for the
   fragmented form or the end of the data. */
static int lf_per_length(const uint8_t *d, int size, int *pos)
{
    if (*pos >= size)
        return -1;
    int first = d[(*pos)++];
    if (!(first & 0x80))
        return first;
    if (!(first & 0x40)) {
        if (*pos >= size)
            return -1;
        return ((first & 0x3F) << 8) | d[(*pos)++];
    }
    return -1;
}

#define LF_MAX_SECONDARY 1024

/* One datagram from the far end: decoded, gaps filled from its secondaries, and each IFP
   handed to ``core`` once, in order (udptl.UdptlReceiver.feed + T38FaxSession.receive). */
static void lf_udptl_rx(lf_udptl_t *u, t38_core_state_t *core, const uint8_t *d, int size)
{
    const uint8_t *sec[LF_MAX_SECONDARY];
    int sec_len[LF_MAX_SECONDARY];
    int n_sec = 0, pos = 2;
    if (size < 2) { u->malformed++; return; }
    int seq = (d[0] << 8) | d[1];
    int plen = lf_per_length(d, size, &pos);
    if (plen < 0 || pos + plen > size || plen == 0) { u->malformed++; return; }
    const uint8_t *primary = d + pos;
    pos += plen;
    if (pos >= size) { u->malformed++; return; }
    int choice = d[pos++];
    if (choice & 0x80) {
        /* FEC: the framing is checked, only the primary kept. */
        int m = lf_per_length(d, size, &pos);
        if (m < 0 || pos + m > size) { u->malformed++; return; }
        pos += m;
        int count = lf_per_length(d, size, &pos);
        if (count < 0) { u->malformed++; return; }
        for (int j = 0; j < count; j++) {
            m = lf_per_length(d, size, &pos);
            if (m < 0 || pos + m > size) { u->malformed++; return; }
            pos += m;
        }
    } else {
        int count = lf_per_length(d, size, &pos);
        if (count < 0) { u->malformed++; return; }
        for (int j = 0; j < count; j++) {
            int m = lf_per_length(d, size, &pos);
            if (m < 0 || pos + m > size) { u->malformed++; return; }
            if (n_sec < LF_MAX_SECONDARY) {
                sec[n_sec] = d + pos;
                sec_len[n_sec] = m;
                n_sec++;
            }
            pos += m;
        }
    }
    u->received++;
    if (u->expected < 0)
        u->expected = seq;
    int gap = (seq - u->expected) & 0xFFFF;
    if (gap >= 0x8000) {
        u->late++;
        return;
    }
    for (int back = gap; back > 0; back--) {
        if (back - 1 < n_sec) {
            t38_core_rx_ifp_packet(core, sec[back - 1], sec_len[back - 1],
                                   (uint16_t) ((seq - back) & 0xFFFF));
            u->recovered++;
        } else {
            u->lost++;
        }
    }
    t38_core_rx_ifp_packet(core, primary, plen, (uint16_t) seq);
    u->expected = (seq + 1) & 0xFFFF;
}

static int lf_per_size(int n) { return n < 0x80 ? 1 : 2; }

static uint8_t *lf_per_put(uint8_t *p, int n)
{
    if (n < 0x80) {
        *p++ = (uint8_t) n;
    } else {
        *p++ = (uint8_t) (0x80 | (n >> 8));
        *p++ = (uint8_t) (n & 0xFF);
    }
    return p;
}

/* Keep a copy of ``len`` bytes in (*buf, *cap): 0, or -1 out of memory. */
static int lf_keep(uint8_t **buf, int *cap, const uint8_t *data, int len)
{
    if (len > *cap) {
        int c = *cap ? *cap : 64;
        while (c < len)
            c *= 2;
        uint8_t *b = realloc(*buf, c);
        if (b == NULL)
            return -1;
        *buf = b;
        *cap = c;
    }
    if (len)
        memcpy(*buf, data, len);
    return 0;
}

/* One IFP framed with up to ``redundancy`` earlier ones within max_datagram (the oldest
   dropped first), appended to ``out`` for session i (udptl.UdptlSender.frame). */
static int lf_udptl_frame(lf_udptl_t *u, lf_t38out_t *out, int i, int seq, const uint8_t *ifp,
                          int len)
{
    if (len >= 0x4000) { u->error |= 1; return -1; }
    seq &= 0xFFFF;
    int n_sec = u->hist_n < u->redundancy ? u->hist_n : u->redundancy;
    int size = 2 + lf_per_size(len) + len + 1 + lf_per_size(n_sec);
    for (int k = 0; k < n_sec; k++)
        size += lf_per_size(u->hist_len[k]) + u->hist_len[k];
    while (size > u->max_datagram && n_sec > 0) {
        n_sec--;
        size -= lf_per_size(u->hist_len[n_sec]) + u->hist_len[n_sec];
        size += lf_per_size(n_sec) - lf_per_size(n_sec + 1);
    }
    if (lf_out_reserve(out, 1, size) < 0)
        return -1;
    uint8_t *start = out->data + out->bytes, *p = start;
    *p++ = (uint8_t) (seq >> 8);
    *p++ = (uint8_t) (seq & 0xFF);
    p = lf_per_put(p, len);
    memcpy(p, ifp, len);
    p += len;
    *p++ = 0x00;
    p = lf_per_put(p, n_sec);
    for (int k = 0; k < n_sec; k++) {
        p = lf_per_put(p, u->hist_len[k]);
        memcpy(p, u->hist[k], u->hist_len[k]);
        p += u->hist_len[k];
    }
    int *r = out->rec + 3 * out->n;
    r[0] = i;
    r[1] = seq;
    r[2] = size;
    out->n++;
    out->bytes += size;
    /* The history, newest first, max(redundancy, 1) deep: the oldest buffer is reused. */
    int depth = u->redundancy > 1 ? u->redundancy : 1;
    int keep = u->hist_n < depth ? u->hist_n : depth - 1;
    uint8_t *buf = u->hist[keep];
    int cap = u->hist_cap[keep];
    memmove(u->hist + 1, u->hist, keep * sizeof(uint8_t *));
    memmove(u->hist_cap + 1, u->hist_cap, keep * sizeof(int));
    memmove(u->hist_len + 1, u->hist_len, keep * sizeof(int));
    u->hist[0] = buf;
    u->hist_cap[0] = cap;
    if (lf_keep(&u->hist[0], &u->hist_cap[0], ifp, len) < 0) {
        u->hist_len[0] = 0;
        u->error |= 2;
        return -1;
    }
    u->hist_len[0] = len;
    if (u->hist_n < depth)
        u->hist_n++;
    if (lf_keep(&u->last, &u->last_cap, start, size) < 0) {
        u->error |= 2;
        return -1;
    }
    u->last_len = size;
    u->last_seq = seq;
    return 0;
}

/* One IFP framed alone into an emptied ``out`` (UdptlLine.frame). */
static int lf_udptl_frame_one(lf_udptl_t *u, lf_t38out_t *out, int seq, const uint8_t *ifp,
                              int len)
{
    out->n = 0;
    out->bytes = 0;
    out->error = 0;
    return lf_udptl_frame(u, out, 0, seq, ifp, len);
}

/* Session i's queued IFPs framed into ``out``; when it had none, its last datagram again,
   up to idle_repeats times in a row (the tail of a burst survives a loss). */
static void lf_udptl_take(lf_udptl_t *u, lf_t38out_t *out, int i, lf_sess_t *x)
{
    int n = x->n_pk;
    if (n) {
        u->idle = 0;
        int at = 0;
        for (int j = 0; j < n; j++) {
            lf_udptl_frame(u, out, i, x->pk_seq[j], x->pk_data + at, x->pk_len[j]);
            at += x->pk_len[j];
        }
        x->n_pk = 0;
        x->pk_bytes = 0;
    } else if (u->last_len > 0 && u->idle < u->idle_repeats) {
        u->idle++;
        if (lf_out_reserve(out, 1, u->last_len) == 0)
            lf_out_push(out, i, u->last_seq, u->last, u->last_len);
    }
}

/* One tick of n T.38 sessions, each on its own line. ``in_rec`` (index, seq, length; the
   data back to back in ``in_data``, in arrival order): IFPs when ``lines`` is NULL, whole
   UDPTL datagrams otherwise (decoded and recovered by the session's line). Then per session
   send_timeout(step). rx_events[i] = the events session i had before its timeout (so
   Python stamps them at the tick's start). What each session emitted goes to ``out`` (IFPs,
   or UDPTL datagrams framed by its line); the sessions with events or an error go to
   ``flagged``; returns how many. The arrays hold sessions base..base+n-1 of the batch (a
   part of it, on one of two threads): input records name sessions by their batch index,
   output records and ``flagged`` too; rx_events by the part's own. */
static int lf_tick_t38(t38_terminal_state_t **states, t38_core_state_t **cores, lf_sess_t **xs,
                       lf_udptl_t **lines, int n, int base, int step, const int *in_rec, int in_n,
                       const uint8_t *in_data, int *rx_events, lf_t38out_t *out, int *flagged)
{
    int at = 0;
    out->n = 0;
    out->bytes = 0;
    out->error = 0;
    for (int j = 0; j < in_n; j++) {
        int i = in_rec[3 * j] - base, len = in_rec[3 * j + 2];
        if (i >= 0 && i < n && len >= 0) {
            if (lines == NULL)
                t38_core_rx_ifp_packet(cores[i], in_data + at, len,
                                       (uint16_t) in_rec[3 * j + 1]);
            else
                lf_udptl_rx(lines[i], cores[i], in_data + at, len);
        }
        at += len > 0 ? len : 0;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        lf_sess_t *x = xs[i];
        rx_events[i] = x->n_ev;
        t38_terminal_send_timeout(states[i], step);
        x->samples += step;
        if (lines == NULL)
            lf_t38out_take(out, i + base, x);
        else
            lf_udptl_take(lines[i], out, i + base, x);
        if (x->n_ev | x->error || (lines != NULL && lines[i]->error))
            flagged[k++] = i + base;
    }
    return k;
}

/* -- RTP G.711 (providers/sip/rtp.py and FaxMedia's audio step, in C) ------------------- */

/* JitterBuffer.push: a frame filed by sequence number (only ``step``-byte frames are kept:
   another size plays as silence, as in FaxMedia). */
static void lf_jb_push(lf_rtp_t *j, int seq, const uint8_t *payload, int len, int step)
{
    if (j->next < 0)
        j->next = seq;
    int ahead = (seq - j->next) & 0xFFFF;
    if (ahead >= 0x8000) {
        j->late++;
        return;
    }
    if (ahead >= j->capacity) {
        /* A jump (the far end restarted its numbering, or a long outage): resync. */
        for (int k = 0; k < LF_JB_SLOTS; k++)
            j->tags[k] = -1;
        j->count = 0;
        j->next = seq;
        j->started = 0;
    }
    int slot = seq & (LF_JB_SLOTS - 1);
    if (j->tags[slot] != seq) {
        j->tags[slot] = seq;
        j->count++;
    }
    j->lens[slot] = len;
    if (len == step)
        memcpy(j->frames + slot * step, payload, step);
    if (j->count >= j->depth)
        j->started = 1;
}

/* JitterBuffer.pop into ``pcm``: the frame due now decoded, or silence. */
static void lf_jb_pop(lf_rtp_t *j, int16_t *pcm, int step)
{
    if (!j->started || j->next < 0) {
        memset(pcm, 0, step * sizeof(int16_t));
        return;
    }
    int slot = j->next & (LF_JB_SLOTS - 1);
    int have = j->tags[slot] == j->next;
    j->next = (j->next + 1) & 0xFFFF;
    if (!have) {
        j->missing++;
        if (j->count == 0)
            j->started = 0; /* underrun: wait for the buffer to fill again */
        memset(pcm, 0, step * sizeof(int16_t));
        return;
    }
    j->tags[slot] = -1;
    j->count--;
    j->played++;
    if (j->lens[slot] == step) {
        const uint8_t *f = j->frames + slot * step;
        for (int k = 0; k < step; k++)
            pcm[k] = j->dec[f[k]];
    } else {
        memset(pcm, 0, step * sizeof(int16_t));
    }
}

/* One datagram from the far end (FaxMedia._audio_in's reading, parse_rtp's rules). */
static void lf_rtp_rx(lf_rtp_t *j, const uint8_t *d, int n, int step)
{
    if (n > 12 && d[0] == 0x80) {
        if ((d[1] & 0x7F) == j->rx_pt)
            lf_jb_push(j, (d[2] << 8) | d[3], d + 12, n - 12, step);
        return;
    }
    if (n < 12 || (d[0] >> 6) != 2)
        return;
    int offset = 12 + 4 * (d[0] & 0x0F);
    if (d[0] & 0x10) {
        if (n < offset + 4)
            return;
        int words = (d[offset + 2] << 8) | d[offset + 3];
        offset += 4 + 4 * words;
    }
    int end = n;
    if (d[0] & 0x20) {
        if (end == 0 || d[n - 1] == 0 || d[n - 1] > end - offset)
            return;
        end -= d[n - 1];
    }
    if (offset > end)
        return;
    if ((d[1] & 0x7F) == j->rx_pt)
        lf_jb_push(j, (d[2] << 8) | d[3], d + offset, end - offset, step);
}

/* One 20 ms frame of n audio calls on RTP: per call, the datagrams of ``in_rec`` (index,
   0, length; in arrival order) into its jitter buffer, the frame due decoded into rx[i],
   fax_rx, fax_tx into tx[i], tx[i] coded into one RTP packet (RtpSender.stamp) in ``out``.
   The calls with events or an error go to ``flagged``; returns how many. ``base``: as for
   lf_tick_t38. */
static int lf_step_rtp(fax_state_t **states, lf_sess_t **xs, int16_t **rx, int16_t **tx,
                       lf_rtp_t **lines, int n, int base, int step, const int *in_rec, int in_n,
                       const uint8_t *in_data, lf_t38out_t *out, int *flagged)
{
    int at = 0;
    out->n = 0;
    out->bytes = 0;
    out->error = 0;
    for (int j = 0; j < in_n; j++) {
        int i = in_rec[3 * j] - base, len = in_rec[3 * j + 2];
        if (i >= 0 && i < n && len >= 0)
            lf_rtp_rx(lines[i], in_data + at, len, step);
        at += len > 0 ? len : 0;
    }
    if (lf_out_reserve(out, n, n * (12 + step)) < 0)
        return -1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        lf_rtp_t *j = lines[i];
        lf_sess_t *x = xs[i];
        lf_jb_pop(j, rx[i], step);
        fax_rx(states[i], rx[i], step);
        x->samples += step;
        lf_tx_full(states[i], tx[i], step);
        uint8_t *p = out->data + out->bytes;
        p[0] = 0x80;
        p[1] = (uint8_t) ((j->first ? 0x80 : 0) | (j->tx_pt & 0x7F));
        p[2] = (uint8_t) (j->seq >> 8);
        p[3] = (uint8_t) (j->seq & 0xFF);
        p[4] = (uint8_t) (j->timestamp >> 24);
        p[5] = (uint8_t) (j->timestamp >> 16);
        p[6] = (uint8_t) (j->timestamp >> 8);
        p[7] = (uint8_t) j->timestamp;
        p[8] = (uint8_t) (j->ssrc >> 24);
        p[9] = (uint8_t) (j->ssrc >> 16);
        p[10] = (uint8_t) (j->ssrc >> 8);
        p[11] = (uint8_t) j->ssrc;
        const int16_t *t = tx[i];
        for (int s = 0; s < step; s++)
            p[12 + s] = j->enc[(uint16_t) t[s]];
        int *r = out->rec + 3 * out->n;
        r[0] = i + base;
        r[1] = j->seq;
        r[2] = 12 + step;
        out->n++;
        out->bytes += 12 + step;
        j->first = 0;
        j->seq = (j->seq + 1) & 0xFFFF;
        j->timestamp += (unsigned int) step;
        if (x->n_ev | x->error)
            flagged[k++] = i + base;
    }
    return k;
}

/* sendto() each datagram i: fds[i], data[offsets[i]:+lengths[i]], destination dests[i] (an
   index into the n_addrs entries of ``addrs``, 32 bytes each: the sockaddr's length as an
   int, then the sockaddr; a forgotten entry has length 0: EDESTADDRREQ).
   err[i] = 0 or errno; returns how many were sent. Nothing blocks; no signal is raised. */
static int lf_send_many(const int *fds, const int *offsets, const int *lengths, const int *dests,
                        int n, const uint8_t *data, int data_len, const uint8_t *addrs,
                        int n_addrs, int *err)
{
    int sent = 0;
    for (int i = 0; i < n; i++) {
        int off = offsets[i], len = lengths[i], d = dests[i];
        if (d < 0 || d >= n_addrs || off < 0 || len < 0 || off > data_len - len) {
            err[i] = EINVAL;
            continue;
        }
        int alen;
        memcpy(&alen, addrs + 32 * d, sizeof(int));
        if (alen <= 0) {
            err[i] = EDESTADDRREQ;
            continue;
        }
        ssize_t r;
        do {
            r = sendto(fds[i], data + off, (size_t) len, MSG_DONTWAIT | MSG_NOSIGNAL,
                       (const struct sockaddr *) (addrs + 32 * d + 4), (socklen_t) alen);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            err[i] = errno;
        } else {
            err[i] = 0;
            sent++;
        }
    }
    return sent;
}

/* Read the datagrams pending on fds[state[0]...] (state[1] already read from the first),
   at most max_per_fd from each, into ``buf`` back to back while at least max_dgram bytes of
   room and a record are left. Records (8 ints): fd index, length, family, port, then the
   16 address bytes. A socket's error goes to err[fd index] (a closed descriptor: the next
   socket; an error the socket reported: its next datagram). Returns the records written;
   state[0] == nfds once every socket is done. */
static int lf_recv_many(const int *fds, int nfds, int max_per_fd, int max_dgram, uint8_t *buf,
                        int room, int *recs, int max_recs, int *err, int *state)
{
    int used = 0, got = 0;
    struct sockaddr_storage src;
    while (state[0] < nfds) {
        int i = state[0];
        while (state[1] < max_per_fd) {
            if (room - used < max_dgram || got >= max_recs)
                return got;
            socklen_t alen = sizeof(src);
            ssize_t r = recvfrom(fds[i], buf + used, (size_t) max_dgram,
                                 MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *) &src, &alen);
            if (r < 0) {
                int e = errno;
                if (e == EINTR)
                    continue;
                if (e == EAGAIN || e == EWOULDBLOCK)
                    break;
                err[i] = e;
                if (e == EBADF || e == ENOTSOCK || e == EINVAL || e == EFAULT)
                    break;
                state[1]++;
                continue;
            }
            state[1]++;
            if (r > max_dgram) {
                err[i] = EMSGSIZE;
                continue;
            }
            int *rec = recs + 8 * got;
            memset(rec, 0, 8 * sizeof(int));
            rec[0] = i;
            rec[1] = (int) r;
            rec[2] = src.ss_family;
            if (src.ss_family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *) &src;
                rec[3] = ntohs(a->sin_port);
                memcpy(rec + 4, &a->sin_addr, 4);
            } else if (src.ss_family == AF_INET6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &src;
                rec[3] = ntohs(a->sin6_port);
                memcpy(rec + 4, &a->sin6_addr, 16);
            }
            used += (int) r;
            got++;
        }
        state[0]++;
        state[1] = 0;
    }
    return got;
}
"""
