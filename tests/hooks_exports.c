/* SPDX-License-Identifier: MIT */
/*
 * Description: libumcg.so.1 exports every libc hook unversioned, and
 * nothing it should not.  A hook exported as read@UMCG_1.0 would not
 * interpose read@GLIBC_2.2.5 under LD_PRELOAD (the dynamic linker binds a
 * versioned reference only to the same version or to an unversioned
 * definition), and src/umcg.map therefore has no "local: *" -- so this
 * test also fails on any other unversioned symbol that leaks out.  Reads
 * the ELF file of the libumcg this process loaded: .dynsym, .gnu.version,
 * .gnu.version_d.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t_helpers.h"

static const char *const hooks[] = {
	"read", "write", "pread", "pwrite", "pread64", "pwrite64", "readv",
	"writev", "recv", "recvfrom", "recvmsg", "send", "sendto", "sendmsg",
	"accept", "accept4", "connect", "poll", "ppoll", "select", "pselect",
	"epoll_wait", "epoll_pwait", "nanosleep", "clock_nanosleep", "usleep",
	"sleep", "open", "open64", "openat", "openat64", "fsync", "fdatasync",
	"wait", "waitpid", "waitid", "pthread_mutex_lock",
	"pthread_mutex_timedlock", "pthread_cond_clockwait",
	"pthread_rwlock_rdlock", "pthread_rwlock_wrlock",
	"pthread_rwlock_timedrdlock", "pthread_rwlock_timedwrlock",
	"pthread_barrier_wait", "pthread_join", "sem_wait", "sem_timedwait",
	"sem_clockwait", "close", "__read_chk", "__pread_chk", "__pread64_chk",
	"__recv_chk", "__recvfrom_chk", "__poll_chk", "__ppoll_chk",
};

/* Exported under GLIBC_2.3.2, libc's version of them (see umcg.map). */
static const char *const cond_hooks[] = {
	"pthread_cond_wait", "pthread_cond_timedwait",
};

struct lib {
	const unsigned char *base;
	const Elf64_Sym *sym;
	size_t nsym;
	const char *str;
	const Elf64_Half *versym;
	const Elf64_Verdef *verdef;
};

static int in(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}

/* The name of version index @ndx (>= 2), or "?". */
static const char *version_name(const struct lib *l, unsigned ndx)
{
	const Elf64_Verdef *d = l->verdef;

	while (d) {
		if (d->vd_ndx == ndx) {
			const Elf64_Verdaux *a = (const void *)((const char *)d +
								 d->vd_aux);
			return l->str + a->vda_name;
		}
		d = d->vd_next ? (const void *)((const char *)d + d->vd_next)
			       : NULL;
	}
	return "?";
}

static int load(struct lib *l, const char *path)
{
	struct stat st;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		return -1;
	l->base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (l->base == MAP_FAILED)
		return -1;
	eh = (const void *)l->base;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64)
		return -1;
	sh = (const void *)(l->base + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		const void *p = l->base + sh[i].sh_offset;

		if (sh[i].sh_type == SHT_DYNSYM) {
			l->sym = p;
			l->nsym = sh[i].sh_size / sizeof(Elf64_Sym);
			l->str = (const char *)(l->base + sh[sh[i].sh_link].sh_offset);
		} else if (sh[i].sh_type == SHT_GNU_versym) {
			l->versym = p;
		} else if (sh[i].sh_type == SHT_GNU_verdef) {
			l->verdef = p;
		}
	}
	return l->sym && l->versym ? 0 : -1;
}

static struct lib lib;

static int test_hooks_unversioned(void)
{
	int found = 0, nfail = 0;

	for (size_t i = 0; i < lib.nsym; i++) {
		const Elf64_Sym *s = &lib.sym[i];
		const char *name = lib.str + s->st_name;
		unsigned v = lib.versym[i] & 0x7fff;

		if (s->st_shndx == SHN_UNDEF)
			continue;
		if (in(name, hooks, sizeof(hooks) / sizeof(hooks[0]))) {
			found++;
			if (v != VER_NDX_GLOBAL) {
				fprintf(stderr, "%s is exported as %s@%s: "
					"LD_PRELOAD would not interpose it\n",
					name, name, version_name(&lib, v));
				nfail++;
			}
		} else if (in(name, cond_hooks, 2)) {
			found++;
			if (v < 2 || strcmp(version_name(&lib, v), "GLIBC_2.3.2")) {
				fprintf(stderr, "%s: version %u, want GLIBC_2.3.2\n",
					name, v);
				nfail++;
			}
		}
	}
	T_CHECK(found == sizeof(hooks) / sizeof(hooks[0]) + 2,
		"%d of %zu hooks exported", found,
		sizeof(hooks) / sizeof(hooks[0]) + 2);
	T_CHECK(nfail == 0, "%d hooks exported with a version", nfail);
	return 0;
}

static int test_nothing_leaks(void)
{
	int nfail = 0;

	for (size_t i = 1; i < lib.nsym; i++) {
		const Elf64_Sym *s = &lib.sym[i];
		const char *name = lib.str + s->st_name;
		unsigned v = lib.versym[i] & 0x7fff;

		if (s->st_shndx == SHN_UNDEF || v != VER_NDX_GLOBAL ||
		    ELF64_ST_BIND(s->st_info) == STB_LOCAL)
			continue;
		if (in(name, hooks, sizeof(hooks) / sizeof(hooks[0])) ||
		    strncmp(name, "__odr_asan", 10) == 0)	/* ASan's own */
			continue;
		fprintf(stderr, "%s is exported unversioned: make it static or "
			"UMCG_HIDDEN, add it to a node of src/umcg.map, or match "
			"it with a local: pattern there\n", name);
		nfail++;
	}
	T_CHECK(nfail == 0, "%d symbols leak", nfail);
	return 0;
}

int main(int argc, char **argv)
{
	Dl_info info;
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 60);
	if (!dladdr((void *)umcg_ctl, &info) || !info.dli_fname ||
	    load(&lib, info.dli_fname)) {
		fprintf(stderr, "%s: cannot read the ELF file of libumcg\n",
			t_prog);
		return T_EXIT_FAIL;
	}
	T_RUN(test_hooks_unversioned, nfail);
	T_RUN(test_nothing_leaks, nfail);
	return t_finish(nfail);
}
