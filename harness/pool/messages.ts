import * as z from 'zod';

// The lease protocol between a test worker and the run's VM broker: JSON
// lines over a Unix socket, one connection per lease. The connection is the
// lease: a worker that dies drops it, and the broker takes the VM back.

export const LeaseRequest = z.strictObject({
  type: z.literal('lease'),
  kernel: z.string(),
  /** The test file, for messages and the report. */
  file: z.string(),
  /** A VM of the file's own, booted for it and stopped after it. */
  own: z.boolean(),
});

export const Release = z.strictObject({
  type: z.literal('release'),
});

export const WorkerMessage = z.discriminatedUnion('type', [LeaseRequest, Release]);
export type WorkerMessage = z.infer<typeof WorkerMessage>;

export const Granted = z.strictObject({
  type: z.literal('granted'),
  vmId: z.string(),
  port: z.number().int(),
  privateKeyPath: z.string(),
  /** kmatrix-agent's socket in the guest, if the VM runs one. */
  agentSocket: z.string().optional(),
  consoleLogPath: z.string(),
  bootMs: z.number(),
  /** How many files this VM served before this one. */
  filesBefore: z.number().int(),
});

export const Refused = z.strictObject({
  type: z.literal('refused'),
  /** Why no VM could be had: the boot failure, with the console's last lines. */
  message: z.string(),
});

/** The VM died during the lease. */
export const Died = z.strictObject({
  type: z.literal('died'),
  reason: z.string(),
  kernelLines: z.string(),
  message: z.string(),
});

/** The answer to a release: the VM was reset and kept, or it was broken and replaced. */
export const Released = z.strictObject({
  type: z.literal('released'),
  /** Why the VM cannot serve another file, when it cannot; the file that had it fails with this. */
  broken: z.string().optional(),
  /** What was cleaned up after the file (informational). */
  cleaned: z.string().optional(),
  resetMs: z.number(),
});

export const BrokerMessage = z.discriminatedUnion('type', [Granted, Refused, Died, Released]);
export type BrokerMessage = z.infer<typeof BrokerMessage>;
export type Granted = z.infer<typeof Granted>;
export type Released = z.infer<typeof Released>;
