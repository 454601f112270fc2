import * as z from 'zod';

/**
 * Where the eBPF objects come from. Each object is named after the binary
 * that produced it (an eBPF crate's `[[bin]]`, or the file name), which is
 * what a scenario passes to `startLoader`.
 */
export const EbpfSource = z.union([
  z.strictObject({
    /** An eBPF crate (or workspace) built by cargo for bpfel-unknown-none with the detected toolchain. */
    crate: z.string().min(1),
  }),
  z.strictObject({
    /** A command that builds the objects, run in the project's root, e.g. `['make', 'bpf']`. */
    command: z.array(z.string().min(1)).min(1),
    /** The directory the command leaves its objects in. */
    objects: z.string().min(1),
  }),
  z.strictObject({
    /** A directory of objects built some other way: used as they are. */
    objects: z.string().min(1),
  }),
]);
export type EbpfSource = z.infer<typeof EbpfSource>;

/** A userspace crate built for the host, whose binaries the guest runs (it sees the host's files). */
export const UserspaceCrate = z.strictObject({
  crate: z.string().min(1),
  /** Its binaries a scenario runs; default: every binary the crate builds. */
  bins: z.array(z.string().min(1)).optional(),
});
export type UserspaceCrate = z.infer<typeof UserspaceCrate>;

/** `kmatrix.config.ts`: every path is relative to the file's own directory. */
export const KmatrixConfig = z.strictObject({
  ebpf: z.array(EbpfSource).min(1).optional(),
  userspace: z.array(UserspaceCrate).optional(),
  /** Globs of scenario files. */
  scenarios: z.array(z.string().min(1)).min(1).optional(),
  kernels: z
    .strictObject({
      /** The kernel lines to test on (`kmatrix kernels update` resolves them). */
      catalog: z.string().min(1).optional(),
      /** What they resolved to: packages, versions, SHA256. */
      lock: z.string().min(1).optional(),
    })
    .optional(),
  vm: z
    .strictObject({
      memoryMiB: z.number().int().min(256).max(65_536).optional(),
      cpus: z.number().int().min(1).max(64).optional(),
    })
    .optional(),
  /** The committed baseline `kmatrix baseline save` writes and `kmatrix gate` reads (default `kmatrix.baseline.json`). */
  baseline: z.string().min(1).optional(),
  gate: z
    .strictObject({
      /** Percent growth of a program's verified instructions or states that blocks (default 10). */
      threshold: z.number().min(0).max(100_000).optional(),
      /** A cell that passed only on a retry: `block` (the default) or `allow`. */
      flaky: z.enum(['block', 'allow']).optional(),
    })
    .optional(),
});
export type KmatrixConfig = z.infer<typeof KmatrixConfig>;

/** Types a config file: `export default defineConfig({ … })`. */
export function defineConfig(config: KmatrixConfig): KmatrixConfig {
  return config;
}

/**
 * zod's issues as one line per problem, each naming the key, what it wants
 * and what it got: `ebpf[0].crate: expected string, received number`.
 */
export function describeConfigIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.reduce<string>((at, part) => (typeof part === 'number' ? `${at}[${part}]` : at ? `${at}.${String(part)}` : String(part)), '');
      if (issue.code === 'unrecognized_keys') return `${key || '(top level)'}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      if (issue.code === 'invalid_union') return `${key}: expected one of { crate }, { command, objects } or { objects }`;
      return `${key || '(top level)'}: ${issue.message}`;
    })
    .join('\n');
}
