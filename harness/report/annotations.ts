/**
 * How a scenario tells the report more than pass or fail, through vitest's
 * test annotations (they travel from the worker to the reporter).
 */

/** The case proved an expected failure (its message says which and why). */
export const EXPECTED_FAIL_ANNOTATION = 'kmatrix:expected-fail';
/** JSON `{ "struct.field": offset }` as the running kernel's BTF has them. */
export const OFFSETS_ANNOTATION = 'kmatrix:offsets';

type Annotate = (message: string, type?: string) => Promise<unknown>;

export async function annotateExpectedFailure(annotate: Annotate, reason: string): Promise<void> {
  await annotate(reason, EXPECTED_FAIL_ANNOTATION);
}

export async function annotateOffsets(annotate: Annotate, offsets: Record<string, number>): Promise<void> {
  await annotate(JSON.stringify(offsets), OFFSETS_ANNOTATION);
}

/** A line worth reading in the report even when the case passed (which way a gate went, a sample record). */
export const NOTE_ANNOTATION = 'kmatrix:note';

export async function annotateNote(annotate: Annotate, note: string): Promise<void> {
  await annotate(note, NOTE_ANNOTATION);
}
