import { describe, expect, test } from 'vitest';
import { LineQueue } from '../guest/line-queue.ts';
import type { ExecResult } from '../guest/guest.ts';
import { LoaderDecodeError, LoaderError, LoaderSession, type LoaderProcess } from './client.ts';
import { ProtocolError } from './protocol.ts';

/** A loader stand-in: the test writes its stdout lines and decides how it exits. */
class FakeLoader implements LoaderProcess {
  readonly queue = new LineQueue();
  readonly lines = this.queue;
  killed = 0;
  inputEnded = false;
  #exit!: (result: ExecResult) => void;
  readonly done = new Promise<ExecResult>((resolve) => (this.#exit = resolve));

  print(line: object | string): void {
    this.queue.push(typeof line === 'string' ? line : JSON.stringify({ v: 1, ...line }));
  }

  exit(code: number | null, signal: string | null = null, stderr = ''): void {
    this.queue.end();
    this.#exit({ stdout: '', stderr, code, signal });
  }

  endInput(): void {
    this.inputEnded = true;
  }

  async kill(): Promise<string> {
    this.killed++;
    this.exit(null, 'SIGKILL');
    return 'its session 42 was killed in the guest';
  }

  stderrSoFar(): string {
    return 'loader stderr';
  }
}

const READY = { kind: 'ready', programs: [], maps: ['EVENTS'], kernel: '6.1.0-56-cloud-amd64' };
const event = (pid: number) => ({ kind: 'event', map: 'EVENTS', type: 'ExecEvent', fields: { pid } });
const options = { kernel: 'kernel 6.1', streamedMaps: ['EVENTS'] };

async function started(loader = new FakeLoader()): Promise<[LoaderSession, FakeLoader]> {
  loader.print(READY);
  return [await LoaderSession.attach(loader, options, 1_000), loader];
}

describe('LoaderSession', () => {
  test('stop returns what was reported once the counts agree, and the session then refuses use', async () => {
    const [session, loader] = await started();
    loader.print(event(1));
    loader.print(event(2));
    loader.print({ kind: 'stats', events: 2, perMap: { EVENTS: 2 } });
    loader.exit(0);
    const result = await session.stop(1_000);
    expect(loader.inputEnded).toBe(true);
    expect(result.events.map((e) => e.fields.pid)).toEqual([1, 2]);
    await expect(session.stop()).rejects.toThrow('kernel 6.1: stop() on a loader session that was already stopped');
    await expect(session.waitForEvents(() => true, 10, 'x')).rejects.toThrow('waitForEvents() on a loader session that was already stopped');
  });

  test('a stats count that differs from the events received fails the stop', async () => {
    const [session, loader] = await started();
    loader.print(event(1));
    loader.print({ kind: 'stats', events: 3, perMap: { EVENTS: 3 } });
    loader.exit(0);
    await expect(session.stop(1_000)).rejects.toThrow('kernel 6.1: the loader read 3 records from EVENTS, but 1 events from it arrived');
  });

  test('an event the loader could not decode fails the session with the raw record', async () => {
    const [session, loader] = await started();
    loader.print({ kind: 'event', map: 'EVENTS', type: 'ExecEvent', fields: null, error: 'record is 20 bytes, ExecEvent is 32', raw: '0a0b' });
    const error = await session.waitForEvents(() => false, 1_000, 'events').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoaderDecodeError);
    expect((error as Error).message).toBe('kernel 6.1: the loader could not decode a record of EVENTS as ExecEvent: record is 20 bytes, ExecEvent is 32\nraw record: 0a0b');
    expect(session.events).toEqual([]);
  });

  test('a line outside the protocol fails the session and kills the loader', async () => {
    const [session, loader] = await started();
    loader.print('Segmentation fault');
    await expect(session.waitForEvents(() => false, 1_000, 'events')).rejects.toThrow(ProtocolError);
    expect(loader.killed).toBe(1);
  });

  test('a loader that dies of a signal says so, with its stderr', async () => {
    const [session, loader] = await started();
    loader.exit(null, 'SIGSEGV', 'free(): invalid pointer');
    await expect(session.waitForEvents(() => false, 1_000, '25 events')).rejects.toThrow(
      'kernel 6.1: loader died of SIGSEGV before 25 events\n--- loader stderr ---\nfree(): invalid pointer',
    );
  });

  test('an error line becomes a LoaderError with its stage and verifier log', async () => {
    const loader = new FakeLoader();
    loader.print({ kind: 'error', stage: 'verify', message: 'BPF_PROG_LOAD failed', verifierLog: 'invalid func unknown#181' });
    loader.exit(1);
    const error = await LoaderSession.attach(loader, options, 1_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoaderError);
    expect((error as LoaderError).line.stage).toBe('verify');
    expect((error as Error).message).toContain('--- verifier log ---\ninvalid func unknown#181');
  });

  test('a wait past its deadline kills the loader and says what had arrived', async () => {
    const [session, loader] = await started();
    loader.print(event(7));
    await expect(session.waitForEvents((events) => events.length >= 2, 200, '2 events')).rejects.toThrow(
      /timed out after 200 ms waiting for 2 events \(the loader was stopped: its session 42 was killed in the guest\); 1 events and 0 log records had arrived, the last:\n {2}\{"pid":7\}/,
    );
    expect(loader.killed).toBe(1);
  });

  test('disposing a running session kills the loader once; a dead guest fails every wait at once', async () => {
    const [session, loader] = await started();
    await session[Symbol.asyncDispose]();
    await session[Symbol.asyncDispose]();
    expect(loader.killed).toBe(1);

    const gone = new FakeLoader();
    gone.print(READY);
    const died = new Error('kernel 6.1: the VM died: kernel panic');
    let vmDead = false;
    const assertUsable = () => {
      if (vmDead) throw died;
    };
    const orphan = await LoaderSession.attach(gone, { ...options, assertUsable }, 1_000);
    vmDead = true;
    await expect(orphan.waitForEvents(() => false, 5_000, 'events')).rejects.toBe(died);
  });
});
