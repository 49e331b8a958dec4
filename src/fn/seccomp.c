/*
 * seccomp.c - the system-call filter every function process runs under.
 *
 * Built once per engine with libseccomp and exported as a classic BPF program: into a
 * memfd that bubblewrap loads with --seccomp right before it executes the runtime, and
 * into memory for the unsandboxed mode, where the child installs it itself. Everything
 * is allowed except what a function has no business doing; those calls fail with EPERM
 * (not a kill: runtimes probe for features and must keep working). Calls of a foreign
 * architecture (the 32-bit ABI of an x86-64 kernel) kill the process, which closes the
 * classic bypass through `int 0x80`.
 */
#include "fn/fn_int.h"

#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Refused outright: mounts, namespaces, tracing other processes, kernel keyrings, bpf,
 * perf, modules, reboot and swap, clock and host settings, file handles that bypass
 * path permissions. */
static const char *const deny_calls[] = {
    "mount",         "umount",          "umount2",           "pivot_root",
    "chroot",        "move_mount",      "open_tree",         "fsopen",
    "fsconfig",      "fsmount",         "fspick",            "mount_setattr",
    "unshare",       "setns",           "ptrace",            "process_vm_readv",
    "process_vm_writev", "kcmp",        "pidfd_getfd",       "kexec_load",
    "kexec_file_load", "init_module",   "finit_module",      "delete_module",
    "reboot",        "swapon",          "swapoff",           "keyctl",
    "add_key",       "request_key",     "bpf",               "perf_event_open",
    "userfaultfd",   "open_by_handle_at", "name_to_handle_at", "acct",
    "quotactl",      "syslog",          "settimeofday",      "clock_settime",
    "clock_adjtime", "adjtimex",        "sethostname",       "setdomainname",
    "iopl",          "ioperm",          "vhangup",           "lookup_dcookie",
    "fanotify_init", "uselib",            "nfsservctl",
};

/* clone() flags that would make a namespace. */
static const unsigned long ns_flags[] = {
    CLONE_NEWNS,  CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
    CLONE_NEWUTS, CLONE_NEWIPC,  CLONE_NEWCGROUP,
};

static bool add_rules(scmp_filter_ctx ctx)
{
    const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
    for (size_t i = 0; i < sizeof(deny_calls) / sizeof(*deny_calls); i++) {
        int nr = seccomp_syscall_resolve_name(deny_calls[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture (e.g. iopl on arm64) */
        if (seccomp_rule_add(ctx, deny, nr, 0) != 0)
            return false;
    }
    /* Packet sockets see every frame on an interface; raw sockets forge any. */
    if (seccomp_rule_add(ctx, deny, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_PACKET)) != 0 ||
        seccomp_rule_add(ctx, deny, SCMP_SYS(socket), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW)) != 0)
        return false;
    for (size_t i = 0; i < sizeof(ns_flags) / sizeof(*ns_flags); i++)
        if (seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i])) != 0)
            return false;
    /* clone3 passes its flags in memory, out of the filter's reach: ENOSYS makes libc
     * fall back to clone, which the rules above see. */
    int c3 = seccomp_syscall_resolve_name("clone3");
    if (c3 != __NR_SCMP_ERROR && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), c3, 0) != 0)
        return false;
    return true;
}

enum qr_err fn_seccomp_build(struct fn_engine *e)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return QR_E_IO;
    enum qr_err err = QR_E_IO;
    int fd = -1;
    /* the filter is installed by bwrap or by the child itself: no_new_privs is set by
     * both, libseccomp must not try to set it (that needs no privilege either way) */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0 || !add_rules(ctx))
        goto out;
    fd = memfd_create("quarry-seccomp", MFD_CLOEXEC);
    if (fd < 0 || seccomp_export_bpf(ctx, fd) != 0)
        goto out;
    off_t len = lseek(fd, 0, SEEK_END);
    if (len <= 0 || len % (off_t)sizeof(struct sock_filter) != 0 || len > 65536)
        goto out;
    e->seccomp_bpf = qr_xmalloc((size_t)len);
    if (pread(fd, e->seccomp_bpf, (size_t)len, 0) != len) {
        free(e->seccomp_bpf);
        e->seccomp_bpf = NULL;
        goto out;
    }
    e->seccomp_len = (size_t)len;
    e->seccomp_fd = fd;
    fd = -1;
    err = QR_OK;
out:
    if (fd >= 0)
        close(fd);
    seccomp_release(ctx);
    return err;
}

void fn_seccomp_free(struct fn_engine *e)
{
    if (e->seccomp_fd >= 0)
        close(e->seccomp_fd);
    e->seccomp_fd = -1;
    free(e->seccomp_bpf);
    e->seccomp_bpf = NULL;
    e->seccomp_len = 0;
}
