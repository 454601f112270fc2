// Nothing to say that the aya-template layout does not already say:
// opensnoop-ebpf is the eBPF crate, opensnoop the userspace binary beside it.
// The file is here to show where settings go (see kmatrix's README).
import type { KmatrixConfig } from 'kmatrix/config';

export default {
  ebpf: [{ crate: 'opensnoop-ebpf' }],
  userspace: [{ crate: 'opensnoop', bins: ['opensnoop'] }],
  scenarios: ['scenarios/**/*.test.ts'],
  kernels: { catalog: 'images/kernels.json', lock: 'images/kernels.lock.json' },
} satisfies KmatrixConfig;
