import * as z from 'zod';

/** Parses a JSON file against a schema; errors name the file and the bad field. */
export function parseJsonFile<T extends z.ZodType>(path: string, schema: T, text: string): z.infer<T> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw new Error(`${path} does not match its schema:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}
