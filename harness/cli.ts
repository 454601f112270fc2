#!/usr/bin/env node
// The command line: `kmatrix init | setup | run | kernels update | kernels fetch | build | report merge | baseline save | gate`.
import { parseArgs } from 'node:util';
import { readCatalog, readLock, selectKernels, writeLock } from './kernels/index.ts';
import { describeLocked } from './kernels/lock.ts';
import { fetchKernels } from './kernels/fetch-all.ts';
import { dirname, join } from 'node:path';
import { cacheDir, packageRoot, userRoot } from './util/paths.ts';
import { ConfigError, loadConfig } from './config/load.ts';

const USAGE = `usage: kmatrix <command> [options]

commands (in the project of the current directory, by its kmatrix.config.ts):
  init               in an aya-template project: write kmatrix.config.ts, a first scenario,
                     the kernel catalog and lock, and a GitHub workflow (never overwrites a file)
  setup              install what the VMs need on this machine (QEMU, virtme-ng, virtiofsd,
                     bpf-linker, …); fast when everything is there
  run                build, fetch the kernels, run every scenario on each, print the matrix
  kernels update     resolve the kernel catalog (Debian lines to their newest packages, your own
                     kernels to the release and SHA256 of their files); rewrite the lock
  kernels fetch      download, verify and unpack the locked kernels into the cache
  build [--out DIR]  build the eBPF objects, the userspace crates and kmatrix's loader;
                     --out copies them to DIR (use with KMATRIX_PREBUILT=DIR instead of building)
  report merge DIR… [--expect all|LIST]
                     merge matrix.json files found under DIRs into one report (CI's summary job);
                     --expect: fail, naming them, when any of these locked kernels has no report
  baseline save [--report FILE] [--out FILE]
                     write the baseline (default: the config's \`baseline\`, kmatrix.baseline.json)
                     from a run's report (default: out/report/matrix.json): per kernel each
                     scenario's verdict, per program its load outcome, verified instructions, states
  gate [--report FILE] [--baseline FILE] [--threshold PERCENT] [--flaky block|allow]
       [--kernel LIST] [--scenario LIST]
                     compare a run with the baseline; print a Markdown diff (also appended to
                     $GITHUB_STEP_SUMMARY); exit 1 when a cell that had a verdict fails, skips or
                     is flaky, a program newly fails to load, its verified instructions or states
                     grow more than PERCENT (default 10, or the config's gate.threshold) on a
                     kernel, or a kernel of the baseline is missing; exit 2 on a missing, invalid
                     or stale file. --kernel and --scenario narrow the comparison explicitly
                     (a partial run); without them everything in the baseline is expected

options:
  -k, --kernel LIST   comma-separated kernel names (default: $KERNELS, else all in the lock;
                      for gate only this option narrows, never $KERNELS)
  -h, --help`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    console.error(`kmatrix: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const selection = values.kernel ?? process.env.KERNELS;
  const command = positionals.slice(0, 2).join(' ');
  if (command === 'init') {
    const { init } = await import('./init/index.ts');
    const result = await init(userRoot());
    for (const file of result.wrote) console.log(`wrote ${file}`);
    for (const file of result.kept) console.log(`kept ${file} (it exists)`);
    console.log(`next: ${result.next}`);
    return 0;
  }
  if (command === 'setup') {
    const { execa } = await import('execa');
    const result = await execa('bash', [join(packageRoot, 'harness', 'bin', 'setup')], { stdio: 'inherit', reject: false });
    return result.exitCode ?? 1;
  }
  if (command === 'report merge') {
    const { mergeReports } = await import('./report/merge.ts');
    return mergeReports(positionals.slice(2), { expect: values.expect });
  }
  if (command === 'baseline save' || command === 'gate' || positionals[0] === 'gate') {
    const { saveBaseline, runGate, GateInputError } = await import('./gate/index.ts');
    try {
      const config = await loadConfig(userRoot());
      if (command === 'baseline save') return await saveBaseline(config, { report: values.report, out: values.out });
      if (positionals.length > 1) throw new GateInputError(`gate takes no arguments (got ${positionals.slice(1).join(' ')})`);
      // Only --kernel narrows the gate: $KERNELS, set for a run, must not shrink what it expects unseen.
      return await runGate(config, { report: values.report, baseline: values.baseline, threshold: values.threshold, flaky: values.flaky, kernels: values.kernel, scenarios: values.scenario });
    } catch (err) {
      if (!(err instanceof GateInputError) && !(err instanceof ConfigError)) throw err;
      console.error(`kmatrix ${command}: ${err.message}`);
      return 2;
    }
  }
  const config = await loadConfig(userRoot());
  switch (command) {
    case 'kernels update': {
      const { lockCatalog } = await import('./kernels/lock-catalog.ts');
      const kernels = await lockCatalog(await readCatalog(config.kernels.catalog), {
        catalogDir: dirname(config.kernels.catalog),
        lockDir: dirname(config.kernels.lock),
        cacheRoot: cacheDir(),
        onLocked: (kernel) => console.log(`${kernel.name}: ${describeLocked(kernel)}`),
      });
      await writeLock({ version: 1, kernels }, config.kernels.lock);
      return 0;
    }
    case 'kernels fetch': {
      const kernels = selectKernels(await readLock(config.kernels.lock), selection);
      await fetchKernels(kernels, dirname(config.kernels.lock));
      return 0;
    }
    case 'build': {
      const { buildAll, exportArtifacts } = await import('./build/index.ts');
      const built = await buildAll(config, { log: (line) => console.error(line) });
      const artifacts = values.out ? await exportArtifacts(built, values.out) : built;
      console.log(JSON.stringify(artifacts, null, 2));
      return 0;
    }
    case 'run': {
      const { runMatrix } = await import('./run.ts');
      return runMatrix({ kernels: selection });
    }
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kernel: { type: 'string', short: 'k' },
      out: { type: 'string' },
      expect: { type: 'string' },
      report: { type: 'string' },
      baseline: { type: 'string' },
      threshold: { type: 'string' },
      flaky: { type: 'string' },
      scenario: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`kmatrix: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
