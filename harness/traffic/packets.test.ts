import { describe, expect, test } from 'vitest';
import { countsBetween, receivedFromSnmp } from './packets.ts';

// /proc/net/snmp of a 6.x kernel (5.10 has fewer columns; the parser goes by name).
const SNMP = `Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 2 64 21227 0 0 0 0 0 21227 15566 0 0 0 0 0 0 0 0 0 15566
Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps
Icmp: 73 0 0 73 0 0 0 0 0 0 0 0 0 0 72 0 0 0 72 0 0 0 0 0 0 0 0 0 0
IcmpMsg: InType3 OutType3
IcmpMsg: 73 72
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 76 14 12 0 0 20988 15331 2 0 52 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 94 72 1 167 0 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
`;

describe('receivedFromSnmp', () => {
  test('IP InReceives, ICMP InMsgs, UDP delivered + no port + errors, TCP InSegs', () => {
    expect(receivedFromSnmp(SNMP)).toEqual({ ip: 21227, icmp: 73, udp: 94 + 72 + 1, tcp: 20988 });
  });

  test('a counter that is missing is an error naming it', () => {
    expect(() => receivedFromSnmp(SNMP.replace('InSegs', 'InSegments'))).toThrow('/proc/net/snmp has no Tcp InSegs');
    expect(() => receivedFromSnmp('Ip: InReceives\nIcmp: 3\n')).toThrow('/proc/net/snmp: "Ip:" names followed by "Icmp:" values');
  });

  test('counts between two readings', () => {
    expect(countsBetween({ ip: 10, icmp: 1, udp: 2, tcp: 3 }, { ip: 25, icmp: 5, udp: 9, tcp: 7 })).toEqual({ ip: 15, icmp: 4, udp: 7, tcp: 4 });
  });
});
