import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { packageRoot } from '../util/paths.ts';
import { MUTANTS, applyMutant } from './catalog.ts';

describe('the mutant catalog fits the programs as they are', () => {
  test.each(MUTANTS.map((m) => [m.name, m] as const))('%s changes its file in exactly one place', (_, mutant) => {
    const source = readFileSync(join(packageRoot, 'ebpf-rs', mutant.file), 'utf8');
    const mutated = applyMutant(mutant, source);
    expect(mutated).not.toBe(source);
    expect(mutated.length - source.length).toBe(mutant.replace.length - mutant.find.length);
  });

  test('each scenario it names exists', () => {
    for (const m of MUTANTS) for (const s of m.scenarios) expect(() => readFileSync(join(packageRoot, 'scenarios', `${s}.test.ts`))).not.toThrow();
  });

  test('text that is missing, or there twice, is refused with a message saying what to do', () => {
    const [mutant] = MUTANTS;
    expect(() => applyMutant(mutant!, 'nothing here')).toThrow(`mutant ${mutant!.name}: its text does not occur in ebpf-rs/${mutant!.file}; update harness/mutants/catalog.ts to the program`);
    expect(() => applyMutant(mutant!, mutant!.find + mutant!.find)).toThrow(/occurs more than once/);
  });
});
