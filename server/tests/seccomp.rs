//! docker/seccomp-io_uring.json, loaded as runc loads a profile: each rule
//! given to libseccomp (dlopen'd: the library Debian ships, no build-time
//! dependency), compiled to BPF, installed with no_new_privs before exec.
//! Under it percore-server starts, serves a file, answers a metrics scrape
//! and drains on SIGTERM; and no new user namespace can be made (clone with
//! CLONE_NEWUSER and unshare refused, clone3 answering ENOSYS), as under
//! Docker's own default profile.

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_percore-server");
const PROFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docker/seccomp-io_uring.json"
);

/// libseccomp's `struct scmp_arg_cmp`.
#[repr(C)]
struct ArgCmp {
    arg: c_uint,
    op: c_uint,
    datum_a: u64,
    datum_b: u64,
}

type InitFn = unsafe extern "C" fn(u32) -> *mut c_void;
type ResolveFn = unsafe extern "C" fn(*const c_char) -> c_int;
type RuleAddFn = unsafe extern "C" fn(*mut c_void, u32, c_int, c_uint, *const ArgCmp) -> c_int;
type ExportFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type ReleaseFn = unsafe extern "C" fn(*mut c_void);

/// The libseccomp calls runc makes, found with dlsym.
struct LibSeccomp {
    init: InitFn,
    resolve: ResolveFn,
    rule_add_array: RuleAddFn,
    export_bpf: ExportFn,
    release: ReleaseFn,
}

fn libseccomp() -> LibSeccomp {
    // SAFETY: dlopen/dlsym with NUL-terminated names; each symbol is cast
    // to the signature libseccomp 2.5 declares for it.
    unsafe {
        let lib = libc::dlopen(c"libseccomp.so.2".as_ptr(), libc::RTLD_NOW);
        assert!(
            !lib.is_null(),
            "libseccomp.so.2 is needed (Debian: apt-get install libseccomp2)"
        );
        let sym = |name: &std::ffi::CStr| {
            let f = libc::dlsym(lib, name.as_ptr());
            assert!(!f.is_null(), "libseccomp lacks {name:?}");
            f
        };
        LibSeccomp {
            init: std::mem::transmute::<*mut c_void, InitFn>(sym(c"seccomp_init")),
            resolve: std::mem::transmute::<*mut c_void, ResolveFn>(sym(
                c"seccomp_syscall_resolve_name",
            )),
            rule_add_array: std::mem::transmute::<*mut c_void, RuleAddFn>(sym(
                c"seccomp_rule_add_array",
            )),
            export_bpf: std::mem::transmute::<*mut c_void, ExportFn>(sym(c"seccomp_export_bpf")),
            release: std::mem::transmute::<*mut c_void, ReleaseFn>(sym(c"seccomp_release")),
        }
    }
}

const ACT_ALLOW: u32 = 0x7fff_0000;
const fn act_errno(errno: u32) -> u32 {
    0x0005_0000 | (errno & 0xffff)
}

fn action(rule: &serde_json::Value, default_errno: u32) -> u32 {
    match rule["action"].as_str().unwrap() {
        "SCMP_ACT_ALLOW" => ACT_ALLOW,
        "SCMP_ACT_ERRNO" => act_errno(
            rule["errnoRet"]
                .as_u64()
                .map_or(default_errno, |e| e as u32),
        ),
        other => panic!("the profile uses {other}, which this loader does not know"),
    }
}

fn op(name: &str) -> c_uint {
    match name {
        "SCMP_CMP_NE" => 1,
        "SCMP_CMP_LT" => 2,
        "SCMP_CMP_LE" => 3,
        "SCMP_CMP_EQ" => 4,
        "SCMP_CMP_GE" => 5,
        "SCMP_CMP_GT" => 6,
        "SCMP_CMP_MASKED_EQ" => 7,
        other => panic!("unknown comparison {other}"),
    }
}

/// The profile compiled to a BPF program (as runc builds it).
fn compile_profile() -> Vec<libc::sock_filter> {
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(PROFILE).unwrap()).unwrap();
    let lib = libseccomp();
    let default_errno = profile["defaultErrnoRet"].as_u64().unwrap_or(1) as u32;
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    let default = act_errno(default_errno);
    // SAFETY: the libseccomp API as documented; `ctx` is released below.
    unsafe {
        let ctx = (lib.init)(default);
        assert!(!ctx.is_null());
        for rule in profile["syscalls"].as_array().unwrap() {
            let act = action(rule, default_errno);
            let args: Vec<ArgCmp> = rule["args"]
                .as_array()
                .map(|a| a.as_slice())
                .unwrap_or(&[])
                .iter()
                .map(|a| ArgCmp {
                    arg: a["index"].as_u64().unwrap() as c_uint,
                    op: op(a["op"].as_str().unwrap()),
                    datum_a: a["value"].as_u64().unwrap(),
                    datum_b: a["valueTwo"].as_u64().unwrap_or(0),
                })
                .collect();
            for name in rule["names"].as_array().unwrap() {
                let name = CString::new(name.as_str().unwrap()).unwrap();
                let nr = (lib.resolve)(name.as_ptr());
                if nr < 0 {
                    continue; // not a system call of this architecture
                }
                let rc = (lib.rule_add_array)(ctx, act, nr, args.len() as c_uint, args.as_ptr());
                assert_eq!(rc, 0, "rule for {name:?}");
            }
        }
        let fd = libc::memfd_create(c"bpf".as_ptr(), 0);
        assert!(fd >= 0);
        assert_eq!((lib.export_bpf)(ctx, fd), 0);
        (lib.release)(ctx);
        let mut file = std::fs::File::from(std::os::fd::OwnedFd::from_raw_fd_checked(fd));
        std::io::Seek::rewind(&mut file).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect()
    }
}

trait FromRawFdChecked {
    unsafe fn from_raw_fd_checked(fd: c_int) -> Self;
}

impl FromRawFdChecked for std::os::fd::OwnedFd {
    unsafe fn from_raw_fd_checked(fd: c_int) -> Self {
        // SAFETY: the caller passes a fresh descriptor it owns.
        unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
    }
}

/// Installs `program` on the calling process: what runc does last before
/// exec. Async-signal-safe (two system calls), for `pre_exec`.
fn install(program: &[libc::sock_filter]) -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl and seccomp with a valid, live sock_fprog.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let prog_ptr: *const libc::sock_fprog = &prog;
        if libc::syscall(libc::SYS_seccomp, 1 /* SET_MODE_FILTER */, 0, prog_ptr) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// What a namespace attempt got: `Ok(())` if it was made (the child left
/// at once), else the errno.
fn try_clone(flags: libc::c_long) -> Result<(), i32> {
    // SAFETY: a fork-like clone (no new stack); the child only calls _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as libc::c_long,
            0,
            0,
            0,
            0,
        )
    };
    match pid {
        -1 => Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
        // SAFETY: the new child leaves at once, touching nothing.
        0 => unsafe { libc::_exit(0) },
        child => {
            // SAFETY: reaping the child just made.
            unsafe { libc::waitpid(child as libc::pid_t, std::ptr::null_mut(), 0) };
            Ok(())
        }
    }
}

/// A child process killed and reaped however the test ends (a failed
/// assertion included), so no server outlives its test.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Errnos the checks below report through `spawn` (only a raw errno
/// survives a `pre_exec` failure).
const NEWUSER_CLONED: i32 = 10_001;
const NEWUSER_UNSHARED: i32 = 10_002;
const CLONE3_NOT_ENOSYS: i32 = 10_003;

#[test]
fn under_the_profile_no_user_namespace_can_be_made() {
    let program = compile_profile();
    // Without the filter, for comparison: root may make one here, unless
    // the kernel forbids it anyway.
    let mut free = Command::new("/bin/true");
    // SAFETY: the closure makes only system calls (clone, waitpid, _exit).
    unsafe {
        free.pre_exec(|| match try_clone(libc::CLONE_NEWUSER as libc::c_long) {
            Ok(()) => Ok(()),
            Err(e) => Err(std::io::Error::from_raw_os_error(e)),
        });
    }
    let free = free.status();
    match &free {
        Ok(s) => assert!(s.success()),
        Err(e) => eprintln!("note: no user namespace here even without the filter ({e})"),
    }
    let check = move || {
        install(&program)?;
        let refused = |code| Err(std::io::Error::from_raw_os_error(code));
        if try_clone(libc::CLONE_NEWUSER as libc::c_long) != Err(libc::EPERM) {
            return refused(NEWUSER_CLONED);
        }
        // SAFETY: unshare(2) with a flag; refused by the filter.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER) } == 0 {
            return refused(NEWUSER_UNSHARED);
        }
        let args = [0u64; 11];
        // SAFETY: clone3 with a zeroed clone_args the filter never lets
        // the kernel read.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                args.as_ptr(),
                std::mem::size_of_val(&args),
            )
        };
        if r != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
            if r == 0 {
                // SAFETY: a child clone3 made (it should not have): it leaves.
                unsafe { libc::_exit(0) };
            }
            return refused(CLONE3_NOT_ENOSYS);
        }
        // A plain child process is still allowed.
        if try_clone(0).is_err() {
            return refused(libc::EPERM);
        }
        Ok(())
    };
    let mut under = Command::new("/bin/true");
    // SAFETY: `check` makes only system calls (prctl, seccomp, clone,
    // unshare, clone3, waitpid, _exit) on memory made before the fork.
    unsafe {
        under.pre_exec(check);
    }
    let status = under
        .status()
        .unwrap_or_else(|e| panic!("under the profile: {e} (10001: clone(CLONE_NEWUSER) worked, 10002: unshare worked, 10003: clone3 was not ENOSYS)"));
    assert!(status.success());
}

#[test]
fn percore_server_serves_under_the_profile() {
    let program = compile_profile();
    let dir = std::env::temp_dir().join(format!("percore-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), b"served under seccomp\n").unwrap();
    let config = dir.join("percore.toml");
    std::fs::write(&config, "[metrics]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
    ])
    .arg("--root")
    .arg(&dir)
    .env("RUST_LOG", "info")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    // SAFETY: `install` makes two system calls on memory made before the fork.
    unsafe {
        cmd.pre_exec(move || install(&program));
    }
    let mut child = Reaped(cmd.spawn().expect("spawn percore-server under the profile"));
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut addr, mut metrics) = (None, None);
    while addr.is_none() || metrics.is_none() {
        assert!(Instant::now() < deadline, "no listening line");
        let line = lines.next().expect("exited early").unwrap();
        assert!(!line.contains("ERROR"), "{line}");
        let find = |marker: &str| {
            line.split(marker).nth(1).and_then(|r| {
                r.trim_start_matches("http://")
                    .split(['/', ' '])
                    .next()
                    .and_then(|a| a.parse::<SocketAddr>().ok())
            })
        };
        addr = addr.or(find("listening on "));
        metrics = metrics.or(find("metrics on "));
    }
    let get = |addr: SocketAddr, path: &str| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let answer = get(addr.unwrap(), "/hello.txt");
    assert!(
        answer.ends_with("\r\n\r\nserved under seccomp\n"),
        "{answer}"
    );
    let scrape = get(metrics.unwrap(), "/metrics");
    assert!(scrape.contains("percore_requests_total{core="), "{scrape}");
    // SAFETY: SIGTERM to the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
