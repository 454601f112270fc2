// kmatrix's public API: what a scenario file imports (`from 'kmatrix'`).
// This repository's own scenarios use nothing else; what is not exported
// here may change without notice.

// The scenario test and its fixtures (`vm`, `startLoader`, `kernelLog`, …);
// importing them also registers the matchers (toMatchTruth, toHaveMapEntry, …).
export { test, testOnOwnVm, expect, requireKernel } from './scenario/fixtures.ts';
export { kernelAtLeast } from './scenario/kernel-version.ts';

// The loader in the guest: what to load and what it returned.
export { LoaderError, LoaderDecodeError, type LoaderSpec, type LoaderSession, type LoaderResult, type DecodedEvent } from './loader/client.ts';
export type { Decoded, MapLine, EventLine, LogLine, ReadyLine, StatsLine, ErrorLine } from './loader/protocol.ts';

// The project's own userspace binaries in the guest, and the maps they created.
export { UserProgram, ProgramError, type ProgramExit } from './userspace/program.ts';
export { readLiveMaps } from './userspace/live-maps.ts';

// The guest: commands with deadlines that kill.
export { CommandTimeoutError, GuestUnavailableError, type Guest, type ExecResult, type ExecOptions } from './guest/guest.ts';

// Traffic generators that record what really happened (the truth).
export { runGuestScript } from './traffic/guest-script.ts';
export { generateExecs, EXEC_PROBE_COMM, type ExecTruth, type ExecTrafficOptions } from './traffic/exec.ts';
export { generateConnects, TCP_PROBE_COMM, type ConnectTruth } from './traffic/tcp.ts';
export { createVethPair, sendPackets, readReceived, countsBetween, NET, IPPROTO, type PacketCounts, type ReceivedCounts } from './traffic/packets.ts';
export { runProbeTarget, PROBE_TARGET_COMM, type ProbeTargetTruth } from './traffic/probes.ts';
export { createCgroup, removeCgroup, udpInCgroup, type CgroupUdpTruth } from './traffic/cgroup.ts';

// Comparing with the truth, and views of raw kernel values.
export { diffAgainstTruth, describeDiff, type Fields, type TruthDiff } from './expect/truth.ts';
export { ipv4FromNetworkOrder } from './expect/formats.ts';

// Notes for the report (matrix.md, JUnit properties).
export { annotateNote, annotateOffsets, annotateExpectedFailure } from './report/annotations.ts';
