import { describe, expect, test } from 'vitest';
import { checkKernelConfig, parseKernelConfig } from './kernel-config.ts';

const DEBIAN_LIKE = `
CONFIG_BPF_SYSCALL=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=m
CONFIG_VIRTIO_CONSOLE=m
CONFIG_VIRTIO_FS=m
# CONFIG_9P_FS is not set
CONFIG_OVERLAY_FS=m
CONFIG_DEVTMPFS=y
CONFIG_TMPFS=y
CONFIG_UNIX=y
CONFIG_INET=y
CONFIG_DEBUG_INFO_BTF=y
CONFIG_BPF_EVENTS=y
CONFIG_LOCALVERSION="-cloud"
`;

describe('checkKernelConfig', () => {
  test('a distribution kernel with its modules has everything', () => {
    expect(checkKernelConfig(parseKernelConfig(DEBIAN_LIKE), true)).toEqual({ missing: [], warnings: [] });
  });

  test('=m counts only with modules: without them each modular need is named, with why', () => {
    const { missing } = checkKernelConfig(parseKernelConfig(DEBIAN_LIKE), false);
    expect(missing).toHaveLength(4);
    expect(missing[0]).toBe("CONFIG_VIRTIO_NET=y (the network card the harness's SSH goes over): CONFIG_VIRTIO_NET =m, but the kernel comes without modules");
    expect(missing.join('\n')).toMatch(/CONFIG_VIRTIO_FS=y or CONFIG_9P_FS=y \+ CONFIG_NET_9P_VIRTIO=y \(the host's root filesystem/);
  });

  test('9p is an alternative to virtiofs; missing BTF is a warning, not a refusal', () => {
    const text = DEBIAN_LIKE.replace('CONFIG_VIRTIO_FS=m', '# CONFIG_VIRTIO_FS is not set')
      .replace('# CONFIG_9P_FS is not set', 'CONFIG_9P_FS=y\nCONFIG_NET_9P_VIRTIO=y')
      .replace('CONFIG_DEBUG_INFO_BTF=y', '# CONFIG_DEBUG_INFO_BTF is not set');
    const verdict = checkKernelConfig(parseKernelConfig(text), true);
    expect(verdict.missing).toEqual([]);
    expect(verdict.warnings).toEqual([expect.stringMatching(/^CONFIG_DEBUG_INFO_BTF=y \(BTF \(\/sys\/kernel\/btf\/vmlinux\): without it fentry\/fexit, LSM/)]);
  });

  test('a kernel without the bpf() system call is refused', () => {
    const verdict = checkKernelConfig(parseKernelConfig(DEBIAN_LIKE.replace('CONFIG_BPF_SYSCALL=y', '')), true);
    expect(verdict.missing).toEqual(['CONFIG_BPF_SYSCALL=y (the bpf() system call, which loads every program)']);
  });
});
