/* SPDX-License-Identifier: MIT */
/*
 * Description: libumcg needs libbpf only when a program asks for BPF
 * detection (docs/bpf.md, "How libumcg depends on libbpf").  Until then
 * libbpf.so.1 is not in the process; umcg_set_detection(UMCG_DETECT_BPF)
 * dlopen()s it and starts the programs.  Built twice: as a dynamic program
 * and fully static (static_bpf_on_demand), where BPF is refused with
 * EOPNOTSUPP, detection stays HOOKS and libbpf is never loaded.  On the
 * kernel backend every mode reads KERNEL and libbpf stays out.  Under
 * UMCG_DETECT=bpf (the suite's @bpf run) the environment asked already,
 * at the first registration.
 *
 * UMCG_TEST_BPF as in bpf_detect: 1, BPF must start (dynamic, emul);
 * 0, the kernel has no BPF (the test guest): the documented refusal;
 * unset, a failure to start is a SKIP with its reason.
 */
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <sys/auxv.h>

#include "t_helpers.h"

/* Is a libbpf mapped into this process? */
static bool libbpf_loaded(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "/libbpf.so") != NULL;
	fclose(f);
	return found;
}

static bool program_is_static(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	unsigned long n = getauxval(AT_PHNUM);

	for (unsigned long i = 0; i < n; i++)
		if (ph[i].p_type == PT_INTERP)
			return false;
	return true;
}

/*
 * Main runs this first: only UMCG_DETECT=bpf (the suite's @bpf run) can
 * have asked for BPF yet, at t_init()'s first registration.
 */
static int test_loaded_only_when_asked(void)
{
	const char *detect = getenv("UMCG_DETECT");

	if (program_is_static() || umcg_backend() == UMCG_BACKEND_KERNEL ||
	    !detect || strcmp(detect, "bpf")) {
		T_CHECK(!libbpf_loaded(), "libbpf is mapped, nobody asked for BPF");
		return 0;
	}
	T_CHECK(libbpf_loaded() || umcg_detection() != UMCG_DETECT_BPF,
		"UMCG_DETECT=bpf: BPF runs but no libbpf is mapped");
	return 0;
}

static int test_static_refused(void)
{
	int r = umcg_set_detection(UMCG_DETECT_BPF);

	T_CHECK(r == -EOPNOTSUPP, "static program: umcg_set_detection(BPF) "
		"returned %d, want -EOPNOTSUPP", r);
	T_CHECK(umcg_detection() == UMCG_DETECT_HOOKS,
		"static program: detection %d after the refusal", umcg_detection());
	T_CHECK(umcg_set_detection(UMCG_DETECT_BPF) == -EOPNOTSUPP,
		"static program: the refusal is not remembered");
	T_CHECK(!libbpf_loaded(), "static program: libbpf got mapped");
	return 0;
}

static int test_kernel_backend(void)
{
	T_CHECK(umcg_set_detection(UMCG_DETECT_BPF) == 0, "kernel: BPF mode refused");
	T_CHECK(umcg_detection() == UMCG_DETECT_KERNEL,
		"kernel backend: detection %d", umcg_detection());
	T_CHECK(!libbpf_loaded(), "kernel backend: libbpf got mapped");
	return 0;
}

static int test_dynamic(void)
{
	const char *want = getenv("UMCG_TEST_BPF");
	int r = umcg_set_detection(UMCG_DETECT_BPF);

	if (want && !strcmp(want, "0")) {
		T_CHECK(r == -ENOSYS || r == -EPERM || r == -EINVAL ||
			r == -EOPNOTSUPP,
			"umcg_set_detection(BPF) returned %d on a kernel without BPF", r);
		T_CHECK(umcg_detection() == UMCG_DETECT_HOOKS,
			"detection %d after a failed BPF start", umcg_detection());
		T_CHECK(umcg_set_detection(UMCG_DETECT_BPF) == r,
			"a failed start is not remembered");
		return 0;
	}
	if (r < 0 && !(want && !strcmp(want, "1"))) {
		t_skip("test_dynamic", strerror(-r));
		return 0;
	}
	T_CHECK(r == 0, "umcg_set_detection(BPF): %s (UMCG_TEST_BPF=1 wants it)",
		strerror(-r));
	T_CHECK(umcg_detection() == UMCG_DETECT_BPF, "detection %d after enabling BPF",
		umcg_detection());
	T_CHECK(libbpf_loaded(), "BPF runs but no libbpf is mapped");
	T_CHECK(umcg_set_detection(UMCG_DETECT_BPF) == 0, "a second enable failed");
	T_CHECK(umcg_set_detection(UMCG_DETECT_HOOKS) == 0 &&
		umcg_detection() == UMCG_DETECT_HOOKS, "back to hooks");
	return 0;
}

int main(int argc, char **argv)
{
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	T_RUN(test_loaded_only_when_asked, nfail);
	if (umcg_backend() == UMCG_BACKEND_KERNEL) {
		T_RUN(test_kernel_backend, nfail);
	} else if (program_is_static()) {
		T_RUN(test_static_refused, nfail);
	} else {
		T_RUN(test_dynamic, nfail);
	}
	return t_finish(nfail);
}
