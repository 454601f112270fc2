// Views of raw kernel values that scenarios compare with what userspace saw.

/**
 * An IPv4 address as the kernel stores it (`__be32`, network byte order),
 * decoded as a little-endian u32 the way the loader reads integers: its
 * bytes in memory are the address's octets in order.
 */
export function ipv4FromNetworkOrder(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new Error(`not a 32-bit address: ${value}`);
  return [0, 8, 16, 24].map((shift) => (value >>> shift) & 0xff).join('.');
}
