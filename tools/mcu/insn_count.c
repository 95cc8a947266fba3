/*
 * QEMU TCG plugin: exact counts of the guest instructions executed inside one
 * address range, snapshotted whenever the guest executes a marker function.
 *
 *   qemu-system-arm ... -plugin insn_count.so,lo=0x...,hi=0x...,mark=0x...,out=FILE
 *
 * Every translated instruction whose address is in [lo, hi) gets an inline counter
 * increment (no helper call, so the guest runs at nearly full speed); the first
 * instruction of the marker (mark, Thumb bit cleared) gets a callback that appends
 * a line to FILE:
 *   mark <n> <instructions executed in [lo, hi) so far>
 * followed, when profile=1, by one line "pc <address> <count>" for every address of
 * the range executed since the previous mark (per-function profiles).
 *
 * Built on the host: cc -shared -fPIC -O2 -o insn_count.so insn_count.c
 * The few declarations below are the QEMU plugin API, version 1, as in QEMU 7.2
 * (Debian 12), written out here because Debian's qemu-system-arm does not ship
 * qemu-plugin.h.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API (the subset used) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int, void *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *,
                                                enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *,
                                            qemu_plugin_vcpu_udata_cb_t,
                                            enum qemu_plugin_cb_flags, void *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

/* ---- state (one vCPU: the M-profile boards have one) ---- */
static uint64_t lo, hi, mark;
static uint64_t total;          /* instructions executed in [lo, hi) */
static uint64_t *per_pc;        /* per halfword address of the range */
static uint64_t *per_pc_seen;   /* per_pc at the previous mark */
static int profile;
static uint64_t n_marks;
static FILE *out;

static void on_mark(unsigned int vcpu, void *udata)
{
    uint64_t i, n = (hi - lo) / 2;
    (void)vcpu;
    (void)udata;
    fprintf(out, "mark %" PRIu64 " %" PRIu64 "\n", n_marks++, total);
    if (profile) {
        for (i = 0; i < n; ++i) {
            if (per_pc[i] != per_pc_seen[i]) {
                fprintf(out, "pc 0x%" PRIx64 " %" PRIu64 "\n", lo + 2 * i,
                        per_pc[i] - per_pc_seen[i]);
                per_pc_seen[i] = per_pc[i];
            }
        }
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == mark) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
                                                   NULL);
        }
        if (pc >= lo && pc < hi) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                       &total, 1);
            if (profile) {
                qemu_plugin_register_vcpu_insn_exec_inline(
                    insn, QEMU_PLUGIN_INLINE_ADD_U64, &per_pc[(pc - lo) / 2], 1);
            }
        }
    }
}

static void on_atexit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    fprintf(out, "exit %" PRIu64 "\n", total);
    fclose(out);
}

static int parse(const char *arg, const char *key, const char **value)
{
    const size_t n = strlen(key);
    if (strncmp(arg, key, n) == 0 && arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    return 0;
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                               char **argv)
{
    const char *path = NULL, *v;
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        if (parse(argv[i], "lo", &v)) {
            lo = strtoull(v, NULL, 0);
        } else if (parse(argv[i], "hi", &v)) {
            hi = strtoull(v, NULL, 0);
        } else if (parse(argv[i], "mark", &v)) {
            mark = strtoull(v, NULL, 0) & ~(uint64_t)1;
        } else if (parse(argv[i], "profile", &v)) {
            profile = atoi(v);
        } else if (parse(argv[i], "out", &v)) {
            path = v;
        } else {
            fprintf(stderr, "insn_count: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    if (path == NULL || hi <= lo || (lo & 1) != 0 || hi - lo > (1u << 28)) {
        fprintf(stderr, "insn_count: need lo < hi (even), mark and out\n");
        return -1;
    }
    out = fopen(path, "w");
    per_pc = calloc((hi - lo) / 2 + 1, sizeof *per_pc);
    per_pc_seen = calloc((hi - lo) / 2 + 1, sizeof *per_pc_seen);
    if (out == NULL || per_pc == NULL || per_pc_seen == NULL) {
        fprintf(stderr, "insn_count: cannot open %s or allocate\n", path);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
