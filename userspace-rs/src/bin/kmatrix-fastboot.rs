//! kmatrix-fastboot: what virtme-ng's init gets when it runs
//! `systemd-tmpfiles` or `ip` at boot. The harness puts links of those names
//! to this binary first in the init's PATH (harness/vm/vm.ts); any other
//! caller, and any other use, gets the real program.
//!
//! Under software emulation (TCG) every process costs tens of milliseconds,
//! a cold one (first run in this guest) up to two hundred. The init runs
//! systemd-tmpfiles just before udev, whose start, coldplug and settle cost
//! most of a second, for two things the harness needs at boot. As
//! systemd-tmpfiles, this does them with syscalls, in this one process:
//!
//!  1. it starts loading the NIC's driver (`modprobe virtio_net`, in the
//!     background; the guest script waits for the interface);
//!  2. it makes the /dev/virtio-ports links by which the init finds the
//!     script's I/O ports;
//!  3. it takes udevd out of the init's sight, so that the init skips udev
//!     altogether: only where the guest sees udevd's directory through one
//!     of virtme-ng's overlays, whose writes stay in the guest's tmpfs, never
//!     on a root the guest could write through to the host's own files;
//!  4. it makes the directories named in `KMATRIX_FASTBOOT_DIRS` (`:`
//!     between them), which the guest script's services need, so that the
//!     script does not start a `mkdir` of its own.
//!
//! Where 3 cannot be done, udevd runs and the udevadm stand-in
//! (harness/vm/fastboot/udevadm) makes the links and stops it.
//!
//! As `ip`, the init's `ip link set dev lo up` (its only use of it without
//! virtme-ng's DHCP) is one ioctl instead of a cold `ip`, which was the last
//! process the init waited for before it runs the script.

use std::{
    collections::BTreeSet,
    ffi::{CString, OsString},
    fs,
    io::{self, ErrorKind},
    os::unix::{fs::symlink, process::CommandExt},
    path::Path,
    process::{Command, ExitCode, Stdio},
    thread,
    time::{Duration, Instant},
};

/// Where the init looks for udevd, in its order (virtme_ng_init's find_udevd).
const UDEVD: [&str; 2] = [
    "/usr/lib/systemd/systemd-udevd",
    "/lib/systemd/systemd-udevd",
];
/// The ports the init refuses to run the script without (virtme_ng_init's run_user_script).
const REQUIRED_PORTS: [&str; 5] = [
    "virtme.stdin",
    "virtme.stdout",
    "virtme.stderr",
    "virtme.dev_stdout",
    "virtme.dev_stderr",
];
/// virtio_console names its ports as the host's control messages arrive, a
/// moment after the driver binds: they are waited for, this long at most.
const PORTS_DEADLINE: Duration = Duration::from_secs(10);
const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let called_as = args
        .next()
        .map(|arg0| Path::new(&arg0).file_name().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let args: Vec<OsString> = args.collect();
    // SAFETY: getppid has no preconditions.
    let by_init = unsafe { libc::getppid() } == 1;
    match called_as.to_str() {
        Some("systemd-tmpfiles") if by_init => boot(),
        Some("ip") if by_init && args == ["link", "set", "dev", "lo", "up"] => {
            match loopback_up() {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("kmatrix-fastboot: cannot bring lo up: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(name @ ("systemd-tmpfiles" | "ip")) => run_real(name, &args),
        _ => {
            eprintln!(
                "kmatrix-fastboot: called as {called_as:?}; it runs only as systemd-tmpfiles or ip"
            );
            ExitCode::from(2)
        }
    }
}

/// What the init's systemd-tmpfiles call gets (see the top of this file).
fn boot() -> ExitCode {
    load_nic_driver();
    if let Some(dirs) = std::env::var_os("KMATRIX_FASTBOOT_DIRS") {
        for dir in std::env::split_paths(&dirs) {
            if let Err(err) = fs::create_dir_all(&dir) {
                eprintln!("kmatrix-fastboot: cannot make {}: {err}", dir.display());
            }
        }
    }
    match link_virtio_ports() {
        // udevd goes only once the links are there: otherwise the udevadm
        // stand-in gets its chance to make them.
        Ok(()) => hide_udevd(),
        Err(missing) => eprintln!(
            "kmatrix-fastboot: no virtio port named {missing} within {PORTS_DEADLINE:?}; udev is left to the init"
        ),
    }
    ExitCode::SUCCESS
}

/// The program this stands in for, found in the standard directories (the
/// init's PATH starts with this one's).
fn run_real(name: &str, args: &[OsString]) -> ExitCode {
    let dirs = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
    let Some(real) = dirs
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
    else {
        eprintln!("kmatrix-fastboot: no {name} in {dirs:?}");
        return ExitCode::from(127);
    };
    let err = Command::new(&real).args(args).exec();
    eprintln!("kmatrix-fastboot: cannot run {}: {err}", real.display());
    ExitCode::from(126)
}

/// Not on the init's pipes, which it reads to their end before it goes on:
/// modprobe's errors go to the kernel log, where the harness watches.
fn load_nic_driver() {
    let kmsg = fs::OpenOptions::new().write(true).open("/dev/kmsg");
    let stderr = kmsg.map(Stdio::from).unwrap_or_else(|_| Stdio::null());
    if let Err(err) = Command::new("modprobe")
        .args(["-q", "virtio_net"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
    {
        eprintln!("kmatrix-fastboot: cannot start modprobe virtio_net: {err}");
    }
}

/// /dev/virtio-ports/NAME -> ../vportXpY for every named port, as udev's
/// rule does. Err names a required port that never appeared.
fn link_virtio_ports() -> Result<(), &'static str> {
    let deadline = Instant::now() + PORTS_DEADLINE;
    let mut linked = BTreeSet::new();
    loop {
        for (name, port) in named_ports() {
            if linked.contains(&name) {
                continue;
            }
            let link = Path::new("/dev/virtio-ports").join(&name);
            let _ = fs::create_dir_all("/dev/virtio-ports");
            let _ = fs::remove_file(&link);
            match symlink(Path::new("..").join(&port), &link) {
                Ok(()) => {
                    linked.insert(name);
                }
                Err(err) => eprintln!("kmatrix-fastboot: cannot link {}: {err}", link.display()),
            }
        }
        let missing = REQUIRED_PORTS
            .into_iter()
            .find(|name| !linked.contains(*name));
        match missing {
            None => return Ok(()),
            Some(name) if Instant::now() >= deadline => return Err(name),
            Some(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// (name, vportXpY) of each port that has a name yet.
fn named_ports() -> Vec<(String, String)> {
    let Ok(entries) = fs::read_dir("/sys/class/virtio-ports") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = fs::read_to_string(entry.path().join("name")).ok()?;
            let name = name.trim();
            (!name.is_empty()).then(|| {
                (
                    name.to_owned(),
                    entry.file_name().to_string_lossy().into_owned(),
                )
            })
        })
        .collect()
}

fn hide_udevd() {
    for udevd in UDEVD {
        let path = Path::new(udevd);
        // symlink_metadata: Debian's is a link to udevadm, and the link is what goes.
        if fs::symlink_metadata(path).is_err() {
            continue;
        }
        if !on_overlay(path.parent().unwrap_or(Path::new("/"))) {
            eprintln!("kmatrix-fastboot: {udevd} is not on an overlay; udev is left to the init");
            continue;
        }
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => {
                eprintln!("kmatrix-fastboot: cannot remove {udevd} from the guest's view: {err}")
            }
        }
    }
}

fn on_overlay(dir: &Path) -> bool {
    let Ok(c_path) = CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs fills the zeroed struct it is given; the path is NUL-terminated.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } == 0;
    ok && stat.f_type as i64 == OVERLAYFS_SUPER_MAGIC
}

/// `ip link set dev lo up`: IFF_UP on lo, through SIOCGIFFLAGS/SIOCSIFFLAGS.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket call; the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain data; the name is NUL-terminated within IFNAMSIZ,
    // and both ioctls read and write only that struct.
    let result = unsafe {
        let mut request: libc::ifreq = std::mem::zeroed();
        for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *to = *from as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) < 0 {
            Err(io::Error::last_os_error())
        } else {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
    result
}
