import { readFile } from 'node:fs/promises';

/** One thing the VM or BPF needs from a kernel: any one of `anyOf` (each a set of options that must all be set) will do. */
interface Need {
  anyOf: string[][];
  why: string;
}

/** Without these the VM does not come up, or nothing loads: the run stops before booting. */
const REQUIRED: Need[] = [
  { anyOf: [['CONFIG_BPF_SYSCALL']], why: 'the bpf() system call, which loads every program' },
  { anyOf: [['CONFIG_VIRTIO_PCI']], why: "QEMU's virtio devices" },
  { anyOf: [['CONFIG_VIRTIO_NET']], why: "the network card the harness's SSH goes over" },
  { anyOf: [['CONFIG_VIRTIO_CONSOLE']], why: "virtme-ng's script I/O ports" },
  { anyOf: [['CONFIG_VIRTIO_FS'], ['CONFIG_9P_FS', 'CONFIG_NET_9P_VIRTIO']], why: "the host's root filesystem, which virtme-ng shares into the guest" },
  { anyOf: [['CONFIG_OVERLAY_FS']], why: "virtme-ng's writable overlays over the shared root" },
  { anyOf: [['CONFIG_DEVTMPFS']], why: '/dev' },
  { anyOf: [['CONFIG_TMPFS']], why: '/run and /tmp' },
  { anyOf: [['CONFIG_UNIX']], why: "sshd and kmatrix-agent's socket" },
  { anyOf: [['CONFIG_INET']], why: 'TCP, for SSH' },
];

/** Without these some programs cannot load or attach: reported, and the run goes on. */
const RECOMMENDED: Need[] = [
  {
    anyOf: [['CONFIG_DEBUG_INFO_BTF']],
    why: 'BTF (/sys/kernel/btf/vmlinux): without it fentry/fexit, LSM and BTF tracepoint programs cannot load, and no field offset can be read from the kernel',
  },
  { anyOf: [['CONFIG_BPF_EVENTS']], why: 'kprobe, tracepoint and perf event programs' },
];

export interface ConfigVerdict {
  /** Required options not set, each with what needs it: the kernel cannot serve. */
  missing: string[];
  /** Recommended options not set, with what cannot work without them. */
  warnings: string[];
}

/** `CONFIG_X=y|m|"…"` lines of a kernel .config; `# CONFIG_X is not set` means absent. */
export function parseKernelConfig(text: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) options.set(m[1]!, m[2]!);
  }
  return options;
}

/**
 * What a kernel lacks for the harness, from its .config. `=m` counts only
 * when the kernel comes with its modules.
 */
export function checkKernelConfig(options: Map<string, string>, hasModules: boolean): ConfigVerdict {
  const isSet = (option: string) => options.get(option) === 'y' || (hasModules && options.get(option) === 'm');
  const unmet = (needs: Need[]) =>
    needs
      .filter((need) => !need.anyOf.some((set) => set.every(isSet)))
      .map((need) => {
        const wanted = need.anyOf.map((set) => set.map((o) => `${o}=y`).join(' + ')).join(' or ');
        const modular = need.anyOf.flat().filter((o) => options.get(o) === 'm');
        return `${wanted} (${need.why})${modular.length && !hasModules ? `: ${modular.join(', ')} =m, but the kernel comes without modules` : ''}`;
      });
  return { missing: unmet(REQUIRED), warnings: unmet(RECOMMENDED) };
}

/** {@link checkKernelConfig} of a config file; throws if a required option is missing, naming each and the remedy. */
export async function checkKernelConfigFile(kernelName: string, configPath: string, hasModules: boolean): Promise<string[]> {
  const verdict = checkKernelConfig(parseKernelConfig(await readFile(configPath, 'utf8')), hasModules);
  if (verdict.missing.length) {
    throw new Error(
      `kernel ${kernelName} cannot run the harness; its config (${configPath}) lacks:\n` +
        verdict.missing.map((m) => `  - ${m}`).join('\n') +
        '\nbuild it with these set (=m works when its modules come with it), e.g. `scripts/config -e OPTION && make olddefconfig`',
    );
  }
  return verdict.warnings;
}
