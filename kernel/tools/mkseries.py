#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Developer tool: regenerate kernel/patches/*.patch from a pristine and an
edited linux-source-6.12 tree.  Each patch is a plain `diff -u` of the files
listed below, with its description kept in kernel/tools/series/<name>.txt.

    kernel/tools/mkseries.py kernel/build/orig kernel/build/work

The new files (kernel/src/**) are not part of the patches: kernel/apply.sh
copies them into the tree.
"""
import os
import subprocess
import sys

SERIES = [
    ("0001-sched-umcg-add-the-UMCG-system-calls", [
        "init/Kconfig",
        "arch/x86/entry/syscalls/syscall_64.tbl",
        "include/linux/syscalls.h",
        "kernel/sys_ni.c",
        "include/linux/sched.h",
        "kernel/sched/build_utility.c",
        "kernel/fork.c",
    ]),
    ("0002-entry-sched-umcg-detect-blocking-workers", [
        "include/linux/thread_info.h",
        "include/linux/entry-common.h",
        "kernel/entry/common.c",
        "include/linux/resume_user_mode.h",
        "kernel/sched/core.c",
        "arch/x86/mm/fault.c",
    ]),
    ("0003-sched-umcg-unregister-on-exit-and-execve", [
        "kernel/exit.c",
        "fs/exec.c",
    ]),
]


def main():
    orig, work = sys.argv[1], sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "patches")
    os.makedirs(out, exist_ok=True)
    for name, files in SERIES:
        with open(os.path.join(here, "series", name + ".txt")) as f:
            text = f.read().rstrip("\n") + "\n"
        diff = ""
        for path in files:
            r = subprocess.run(["diff", "-up", "--label", "a/" + path,
                                "--label", "b/" + path,
                                os.path.join(orig, path),
                                os.path.join(work, path)],
                               capture_output=True, text=True)
            if r.returncode == 0:
                sys.exit("%s: %s unchanged" % (name, path))
            diff += "diff --git a/%s b/%s\n" % (path, path) + r.stdout
        stat = subprocess.run(["diffstat", "-p1"], input=diff,
                              capture_output=True, text=True).stdout \
            if subprocess.run(["which", "diffstat"],
                              capture_output=True).returncode == 0 else ""
        with open(os.path.join(out, name + ".patch"), "w") as f:
            f.write(text + "---\n" + stat + "\n" + diff)


main()
