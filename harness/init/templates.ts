import type { DeclaredProgram } from './find-programs.ts';

/** The loader's attach kind for an aya-ebpf attribute, and an example target to replace. */
const ATTACH: Record<string, { kind: string; target: string }> = {
  tracepoint: { kind: 'tracepoint', target: 'syscalls/sys_enter_openat' },
  raw_tracepoint: { kind: 'raw_tracepoint', target: 'sched_process_exec' },
  btf_tracepoint: { kind: 'raw_tracepoint', target: 'sched_process_exec' },
  kprobe: { kind: 'kprobe', target: 'do_sys_openat2' },
  kretprobe: { kind: 'kretprobe', target: 'do_sys_openat2' },
  uprobe: { kind: 'uprobe', target: '/usr/lib/x86_64-linux-gnu/libc.so.6:malloc' },
  uretprobe: { kind: 'uretprobe', target: '/usr/lib/x86_64-linux-gnu/libc.so.6:malloc' },
  fentry: { kind: 'fentry', target: 'vfs_read' },
  fexit: { kind: 'fexit', target: 'vfs_read' },
  lsm: { kind: 'lsm', target: 'file_open' },
  xdp: { kind: 'xdp', target: 'lo' },
  classifier: { kind: 'tc-ingress', target: 'lo' },
  cgroup_skb: { kind: 'cgroup-skb-ingress', target: '/sys/fs/cgroup' },
  socket_filter: { kind: 'socket-filter', target: 'packet:lo' },
};

export function configFile(ebpfCrate: string, userspaceCrate: string | undefined): string {
  return `// kmatrix: where this project's eBPF objects and userspace binaries come
// from, and which kernels to prove them on. Paths are relative to this file.
import type { KmatrixConfig } from 'kmatrix/config';

export default {
  ebpf: [{ crate: '${ebpfCrate}' }],
  userspace: [${userspaceCrate ? `{ crate: '${userspaceCrate}' }` : ''}],
  scenarios: ['scenarios/**/*.test.ts'],
  kernels: { catalog: 'images/kernels.json', lock: 'images/kernels.lock.json' },
} satisfies KmatrixConfig;
`;
}

/**
 * A first scenario for `program`: it loads the object and attaches the
 * program on every kernel, which already proves the verifier takes it
 * everywhere. What it should observe is the project's to write: the
 * comments say where.
 */
export function firstScenario(program: DeclaredProgram, object: string): string {
  const attach = ATTACH[program.kind] ?? { kind: program.kind, target: 'TARGET' };
  return `// ${program.name} on every kernel line: it loads, passes the verifier and
// attaches. Then make it prove what it reports: generate the activity it
// watches in the guest (vm.guest.exec), record what really happened, and
// compare with the events and maps (toMatchTruth, toHaveMapEntry).
import { test, expect } from 'kmatrix';

test('${program.name} loads and attaches', async ({ vm, startLoader }) => {
  const loader = await startLoader('${object}', {
    // ${attach.kind}: check the target; kmatrix cannot read it from the source.
    attach: { ${program.name}: '${attach.kind}:${attach.target}' },
    // ringbufs: { EVENTS: 'YourEvent' },   // records, decoded by your struct's name
    // maps: { COUNTS: 'declared' },         // dumped at the end, types from the declaration
  });
  expect(loader.ready.programs.map((p) => p.name), \`kernel \${vm.kernel.name}\`).toContain('${program.name}');
  // The activity ${program.name} watches goes here (vm.guest.exec), then:
  // const result = await loader.stop(); and compare result.events / result.maps with what happened.
  await loader.stop();
});
`;
}

export function workflowFile(): string {
  return `# kmatrix: every scenario on every kernel of images/kernels.lock.json, one
# job per kernel line. Written by \`kmatrix init\`; yours to change.
name: kernel matrix

on:
  push:
  pull_request:
  workflow_dispatch:

permissions:
  contents: read

jobs:
  plan:
    runs-on: ubuntu-24.04
    outputs:
      kernels: \${{ steps.lock.outputs.kernels }}
    steps:
      - uses: actions/checkout@v4
      - id: lock
        run: echo "kernels=$(jq -c '[.kernels[].name]' images/kernels.lock.json)" >> "$GITHUB_OUTPUT"

  kernel:
    needs: plan
    runs-on: ubuntu-24.04
    strategy:
      fail-fast: false
      matrix:
        kernel: \${{ fromJson(needs.plan.outputs.kernels) }}
    name: kernel \${{ matrix.kernel }}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 24
      - name: KVM for the runner's user
        run: |
          echo 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' | sudo tee /etc/udev/rules.d/99-kvm.rules
          sudo udevadm control --reload-rules && sudo udevadm trigger --name-match=kvm
      - run: npm ci
      - run: npx kmatrix setup
      - run: npx kmatrix run
        env:
          KERNELS: \${{ matrix.kernel }}
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: report-\${{ matrix.kernel }}
          path: out/report/
`;
}
