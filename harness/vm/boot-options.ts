/**
 * What the harness leaves out of every boot, and why each is safe for what
 * it tests. Measured together under TCG (6 interleaved boots each way, from
 * `vng` to SSH ready): 5.10 from 5.0 s to 4.5 s, 6.1 from 5.6 s to 5.0 s.
 */

/**
 * Properties of the guest's NIC: no option ROM. SeaBIOS runs every PCI
 * device's ROM before it hands over to the kernel, and the NIC's is iPXE, a
 * few hundred ms under software emulation for a network boot the harness
 * never does.
 *
 * (qboot, QEMU's minimal firmware, took another 0.3 s off 5.10 and 6.1.
 * In about a hundred boots with it, one 6.1 guest stalled in
 * virtio_console's first control message until the RCU stall detector
 * ended the boot. A raw SeaBIOS boot of 7.3 in the bench hung once too, so
 * qboot is not proven the cause; but SeaBIOS is what every earlier run of
 * the matrix used, and it stays.)
 */
export const NIC_PROPERTIES = ',romfile=';

/**
 * Kernel options.
 *
 * `cryptomgr.notests`: every Debian kernel of the matrix runs the crypto
 * API's self-tests while it boots (CONFIG_CRYPTO_MANAGER_DISABLE_TESTS is
 * off); under software emulation the Diffie-Hellman and RSA tests alone
 * take 0.3 s (initcall_debug on 5.10: dh_init 223 ms, rsa_init 63 ms).
 * They check the kernel's ciphers, which no BPF program or verifier
 * decision depends on; the algorithms themselves stay registered.
 */
export const kernelBootOptions = ['cryptomgr.notests'];
