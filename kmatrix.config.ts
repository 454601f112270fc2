// kmatrix's own programs are the first users of the harness: this is their
// config, as any Aya project writes it (see README, "Use it in your project").
import type { KmatrixConfig } from 'kmatrix/config';

export default {
  // One workspace: the shared event types (common) and the programs, one
  // object per [[bin]] of ebpf-rs/programs.
  ebpf: [{ crate: 'ebpf-rs' }],
  scenarios: ['scenarios/**/*.test.ts'],
  kernels: { catalog: 'images/kernels.json', lock: 'images/kernels.lock.json' },
} satisfies KmatrixConfig;
