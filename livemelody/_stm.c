/* The run-time short-term model (livemelody.ppm.TokenStm) in C: a PPM over the song's tokens
 * mixed into the LSTM's distribution, a few microseconds a step instead of about 20 in Python.
 *
 * Loaded with ctypes by livemelody/stm_native.py (no Python C-API here). One configuration of
 * livemelody.ppm.PPM only, the one TokenStm uses: a bounded order (0..255), escape method C,
 * no update exclusion, the textbook interpolated blend down to a uniform order -1 (PPM's
 * idyom_counts=False). Its results equal PPM.blend_dense's to the bit (the same operations in
 * the same order, compiled without floating-point contraction); the softmax and the relative
 * entropies use libm's exp and log2 where numpy may use its own vectorised ones, so the mixture
 * equals TokenStm's Python path to a few units in the last place, not to the bit.
 *
 * How the counts are found without a trie (O(n) a step for n tokens so far): for every earlier
 * position j the model keeps match[j], the length (capped at the order bound K) of the common
 * suffix of the sequence ending at j and the sequence ending now. Appending t updates it in one
 * pass, match[j] = seq[j] == t ? min(K, old match[j-1] + 1) : 0 (from the end backwards). The
 * counts of the order-k context (the last k tokens) are then the successors seq[j + 1] of the
 * positions j with match[j] >= k, the same counts the PPM's trie holds for that context
 * (contexts never reach before the first token). Memory: 9 bytes a token, grown by doubling
 * (realloc), with no cap but memory: the live engine keeps at most 256 call steps plus the
 * answer, `continue` the primer plus the steps.
 *
 * Sources: Cleary & Witten 1984; Moffat 1990 (escape C); Pearce 2005, PhD thesis, ch. 6, and
 * Pearce, Conklin & Wiggins 2005 (the entropy-weighted arithmetic combination); the Python
 * reference is livemelody/ppm.py (PPM.blend_dense, relative_entropy, entropy_weights,
 * TokenStm.distribution).
 *
 * Build: cc -O2 -fPIC -shared -ffp-contract=off -o _stm.so _stm.c -lm
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int alphabet;          /* V: symbols 0 .. V-1 */
    int order;             /* K: the order bound, 0..255 */
    long length;           /* n: tokens learnt */
    long capacity;         /* room in seq, match, link */
    int32_t *seq;          /* [capacity] the tokens */
    uint8_t *match;        /* [capacity] match[j], j < n - 1 (see above) */
    int32_t *link;         /* [capacity] scratch: the positions of one match length, as a list */
    long *count0;          /* [V] order-0 counts (every token learnt) */
    int distinct0;         /* symbols with a non-zero order-0 count */
    long *counts;          /* [V] scratch: the counts of one order */
    int32_t *touched;      /* [V] scratch: the symbols with a non-zero count in counts */
    double *values;        /* [V] scratch: the blend */
    double *soft;          /* [V] scratch: the softmax */
    double *plogp;         /* [V] scratch: p log2 p */
    int32_t head[256];     /* scratch: head[k] the first position of match length k, -1 none */
} lm_stm;

void lm_stm_free(lm_stm *m) {
    if (!m) return;
    free(m->seq);
    free(m->match);
    free(m->link);
    free(m->count0);
    free(m->counts);
    free(m->touched);
    free(m->values);
    free(m->soft);
    free(m->plogp);
    free(m);
}

/* A model over symbols 0 .. alphabet-1 with contexts of up to order_bound symbols; NULL for a
 * bad setting (alphabet < 1, order_bound outside 0..255) or no memory. */
lm_stm *lm_stm_new(int alphabet, int order_bound) {
    if (alphabet < 1 || order_bound < 0 || order_bound > 255) return NULL;
    lm_stm *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->alphabet = alphabet;
    m->order = order_bound;
    size_t v = (size_t)alphabet;
    m->count0 = calloc(v, sizeof *m->count0);
    m->counts = calloc(v, sizeof *m->counts);
    m->touched = malloc(v * sizeof *m->touched);
    m->values = malloc(v * sizeof *m->values);
    m->soft = malloc(v * sizeof *m->soft);
    m->plogp = malloc(v * sizeof *m->plogp);
    if (!m->count0 || !m->counts || !m->touched || !m->values || !m->soft || !m->plogp) {
        lm_stm_free(m);
        return NULL;
    }
    return m;
}

static int grow(lm_stm *m) {
    long capacity = m->capacity ? 2 * m->capacity : 512;
    int32_t *seq = realloc(m->seq, (size_t)capacity * sizeof *seq);
    if (!seq) return -1;
    m->seq = seq;
    uint8_t *match = realloc(m->match, (size_t)capacity * sizeof *match);
    if (!match) return -1;
    m->match = match;
    int32_t *link = realloc(m->link, (size_t)capacity * sizeof *link);
    if (!link) return -1;
    m->link = link;
    m->capacity = capacity;
    return 0;
}

/* The song went on with `symbol`: 0, or -1 for a symbol outside the alphabet, -2 for no memory
 * (the model is unchanged then). */
int lm_stm_learn(lm_stm *m, int symbol) {
    if (symbol < 0 || symbol >= m->alphabet) return -1;
    if (m->length == m->capacity && grow(m)) return -2;
    long n = m->length;
    int32_t *seq = m->seq;
    uint8_t *match = m->match;
    uint8_t cap = (uint8_t)m->order;
    /* match[j] for j <= n - 1 against the new end (position n); old match[j - 1] is read before
     * it is overwritten (backwards); old match[n - 1] (the old end against itself) is unused. */
    for (long j = n - 1; j >= 1; j--) {
        uint8_t before = match[j - 1];
        match[j] = seq[j] == symbol ? (before < cap ? (uint8_t)(before + 1) : cap) : 0;
    }
    if (n >= 1) match[0] = seq[0] == symbol && cap > 0 ? 1 : 0;
    seq[n] = symbol;
    if (m->count0[symbol]++ == 0) m->distinct0++;
    m->length = n + 1;
    return 0;
}

/* lm_stm_learn for each of symbols[0 .. count-1] in turn: 0, or the first error (the symbols
 * before it learnt). */
int lm_stm_learn_many(lm_stm *m, const int32_t *symbols, long count) {
    for (long i = 0; i < count; i++) {
        int code = lm_stm_learn(m, symbols[i]);
        if (code) return code;
    }
    return 0;
}

long lm_stm_length(const lm_stm *m) { return m->length; }

/* Copy the tokens learnt (at most `room`) into out; returns how many there are. */
long lm_stm_tokens(const lm_stm *m, int32_t *out, long room) {
    long n = m->length < room ? m->length : room;
    if (n > 0) memcpy(out, m->seq, (size_t)n * sizeof *out);
    return m->length;
}

/* One order's part of the blend (PPM.blend_dense): the context's counts are counts[s] over the
 * `distinct` symbols touched[], `total` in all. */
static void blend_order(lm_stm *m, long total, int distinct, const long *counts, const int32_t *symbols,
                        double *escape) {
    if (total <= 0) return;
    double all = (double)(total + distinct);
    double scale = *escape / all;
    for (int i = 0; i < distinct; i++) {
        int s = symbols[i];
        m->values[s] += scale * (double)counts[s];
    }
    *escape *= (double)distinct / all;
}

/* p_STM(next token | the tokens learnt) into out [V]: PPM.blend_dense(sequence)'s values. */
void lm_stm_blend(lm_stm *m, double *out) {
    int V = m->alphabet;
    long n = m->length;
    double *values = m->values;
    for (int s = 0; s < V; s++) values[s] = 0.0;
    /* the positions j <= n - 2 (with a successor) by match length, and the longest */
    int top = 0;
    for (int k = 0; k <= m->order; k++) m->head[k] = -1;
    for (long j = n - 2; j >= 0; j--) {
        int k = m->match[j];
        if (k) {
            m->link[j] = m->head[k];
            m->head[k] = (int32_t)j;
            if (k > top) top = k;
        }
    }
    /* orders top .. 1: counts cumulate downwards (a position matching k symbols matches fewer) */
    double escape = 1.0;
    long total = 0;
    int distinct = 0;
    for (int k = top; k >= 1; k--) {
        for (int32_t j = m->head[k]; j >= 0; j = m->link[j]) {
            int s = m->seq[j + 1];
            if (m->counts[s]++ == 0) m->touched[distinct++] = s;
            total++;
        }
        blend_order(m, total, distinct, m->counts, m->touched, &escape);
    }
    for (int i = 0; i < distinct; i++) m->counts[m->touched[i]] = 0;
    /* order 0: every token learnt (in symbol order: each symbol's slot is its own sum) */
    if (n > 0) {
        double all = (double)(n + m->distinct0);
        double scale = escape / all;
        for (int s = 0; s < V; s++)
            if (m->count0[s]) values[s] += scale * (double)m->count0[s];
        escape *= (double)m->distinct0 / all;
    }
    double floor = escape / (double)V;
    for (int s = 0; s < V; s++) out[s] = values[s] + floor;
}

/* numpy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src), so that the sums are
 * numpy's to the bit. */
static double pairwise_sum(const double *a, long n) {
    if (n < 8) {
        double res = -0.0;
        for (long i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        long i;
        for (i = 0; i < 8; i++) r[i] = a[i];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int k = 0; k < 8; k++) r[k] += a[i + k];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    long n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* H(p) / log2 V floored at 1e-12 (livemelody.ppm.relative_entropy); 1 for V = 1. */
static double relative_entropy(const double *p, int V, double *plogp) {
    if (V <= 1) return 1.0;
    for (int s = 0; s < V; s++) plogp[s] = log2(p[s] > 1e-300 ? p[s] : 1e-300) * p[s];
    double h = pairwise_sum(plogp, V) * (-1.0 / log2((double)V));
    return h > 1e-12 ? h : 1e-12;
}

/* The mixture (TokenStm.distribution) into out [V], summing to 1: the softmax of logits [V],
 * p_STM, and IDyOM's entropy-weighted arithmetic combination with priors (1 - weight, weight):
 * w_m = prior_m * Hrel(p_m) ** -bias, normalised; where the STM's likeliest symbol is below
 * free_from (hold, rest, delimiter), its share at most max(weight, max_share)
 * (livemelody.ppm.capped_share). */
void lm_stm_mix(lm_stm *m, const double *logits, double weight, double bias, double max_share, int free_from,
                double *out) {
    int V = m->alphabet;
    double *soft = m->soft;
    double top = logits[0];
    for (int s = 1; s < V; s++)
        if (logits[s] > top || isnan(logits[s])) top = logits[s];
    for (int s = 0; s < V; s++) soft[s] = exp(logits[s] - top);
    double sum = pairwise_sum(soft, V);
    for (int s = 0; s < V; s++) soft[s] /= sum;
    lm_stm_blend(m, out);
    double w_lstm = (1.0 - weight) * pow(relative_entropy(soft, V, m->plogp), -bias);
    double w_stm = weight * pow(relative_entropy(out, V, m->plogp), -bias);
    double total = w_lstm + w_stm;
    w_stm /= total;
    int top_stm = 0;
    for (int s = 1; s < V; s++)
        if (out[s] > out[top_stm]) top_stm = s;
    double cap = weight > max_share ? weight : max_share;
    if (top_stm < free_from && w_stm > cap) w_stm = cap;
    w_lstm = 1.0 - w_stm;
    for (int s = 0; s < V; s++) out[s] = soft[s] * w_lstm + out[s] * w_stm;
}
