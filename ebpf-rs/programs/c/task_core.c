// CO-RE accessors for the `task_core` program. rustc cannot emit BTF field
// relocations, clang can: these functions are compiled to LLVM bitcode by
// build.rs and linked into the Rust object by bpf-linker, which keeps the
// relocations in .BTF.ext. At load, aya rewrites each field access for the
// running kernel's layout, found by name in its BTF.

typedef unsigned int __u32;

// Only the fields read below. CO-RE matches types and fields by name, not
// by layout, so this is all the kernel's task_struct we need to declare
// (the libbpf way); the offsets written here are never used as they are.
struct task_struct {
	int tgid;
	int static_prio;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)113;

// always_inline: the Rust caller gets the code inlined at link time, so the
// program needs no BPF-to-BPF calls and its pointer argument stays a plain
// kernel address rather than a global function's argument the verifier
// would have to type.

// task->real_parent->tgid, or 0 if a read faults.
__attribute__((always_inline)) __u32 kmx_task_ppid(const void *task)
{
	const struct task_struct *t = task;
	const struct task_struct *parent = 0;
	int tgid = 0;

	if (bpf_probe_read_kernel(&parent, sizeof(parent), &t->real_parent))
		return 0;
	if (bpf_probe_read_kernel(&tgid, sizeof(tgid), &parent->tgid))
		return 0;
	return tgid;
}

// task->static_prio, or 0 if the read faults.
__attribute__((always_inline)) int kmx_task_static_prio(const void *task)
{
	const struct task_struct *t = task;
	int prio = 0;

	if (bpf_probe_read_kernel(&prio, sizeof(prio), &t->static_prio))
		return 0;
	return prio;
}
