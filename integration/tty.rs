//! process.terminal with --console-socket: the runtime sends the pty master over a unix socket
//! (SCM_RIGHTS); the container's stdio is the pty slave and its controlling terminal.
//! process.consoleSize sets the pty's window size.

use crate::harness::fdpass::recv_fd;
use crate::harness::{assert_nothing_left, Bundle, Runtime, Test};
use serde_json::{json, Value};
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Accepts one connection on `listener` (with a deadline) and receives the fd it carries.
fn accept_fd(
    listener: UnixListener,
    timeout: Duration,
) -> std::thread::JoinHandle<Result<(OwnedFd, String), String>> {
    std::thread::spawn(move || {
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + timeout;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                    return recv_fd(&stream).map_err(|e| format!("recvmsg: {e}"));
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(format!("no connection on the console socket: {e}")),
            }
        }
    })
}

/// Reads the pty master until the slave side is gone (EIO) or EOF; gives up after `timeout`.
fn read_all(master: OwnedFd, timeout: Duration) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut f = File::from(master);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match f.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = tx.send(buf);
    });
    let buf = rx
        .recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("the pty did not close within {timeout:?}"));
    String::from_utf8_lossy(&buf).into_owned()
}

struct TtyRun {
    output: String,
    message: String,
}

/// create --console-socket, receive the master, start, read everything the container wrote.
fn run_on_tty(t: &Test, rt: &Runtime, b: &Bundle, tag: &str) -> TtyRun {
    let sock = t.host_dir(&format!("tty-{tag}")).join("console.sock");
    let listener =
        UnixListener::bind(&sock).unwrap_or_else(|e| panic!("bind {}: {e}", sock.display()));
    let receiver = accept_fd(listener, Duration::from_secs(15));
    let out = rt.create_with(b, &["--console-socket", sock.to_str().unwrap()]);
    out.ok();
    let (master, message) = receiver
        .join()
        .unwrap_or_else(|_| panic!("receiver thread panicked"))
        .unwrap_or_else(|e| panic!("{}: {e}\n{out}", rt.name));
    rt.start(&b.id).ok();
    let output = read_all(master, Duration::from_secs(15));
    rt.wait_status(&b.id, "stopped", Duration::from_secs(10));
    rt.delete(&b.id).ok();
    assert_nothing_left(&rt.root, &b.id, &b.dir);
    TtyRun { output, message }
}

fn parse_report(text: &str) -> Value {
    let start = text
        .find('{')
        .unwrap_or_else(|| panic!("no JSON on the pty: {text:?}"));
    let end = text
        .rfind('}')
        .unwrap_or_else(|| panic!("no JSON on the pty: {text:?}"));
    serde_json::from_str(&text[start..=end])
        .unwrap_or_else(|e| panic!("bad JSON on the pty ({e}): {text:?}"))
}

fn tty_bundle(t: &Test) -> Bundle {
    let mut b = t.bundle();
    b.set("/process/terminal", json!(true));
    b
}

#[test]
fn terminal_with_console_socket() {
    let t = Test::new("tty");
    let b = tty_bundle(&t);
    let ours = run_on_tty(&t, &t.rt, &b, "rt");
    let r = parse_report(&ours.output);
    let tty = &r["tty"];
    for k in ["stdin_isatty", "stdout_isatty", "stderr_isatty"] {
        assert_eq!(tty[k], true, "{k}: {tty}");
    }
    let name = tty["ttyname0"]
        .as_str()
        .unwrap_or_else(|| panic!("no tty name: {tty}"));
    assert!(name.starts_with("/dev/pts/"), "{tty}");
    assert_ne!(
        tty["ctty_nr"], 0,
        "the pty is not the controlling terminal: {tty}"
    );
    let fds: Vec<(i64, String)> = r["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fd"].as_i64().unwrap(),
                f["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for fd in 0..3 {
        assert!(
            fds.contains(&(fd, name.to_string())),
            "fd {fd} is not {name}: {fds:?}"
        );
    }
    // The slave translates \n into \r\n (a real terminal in its default mode).
    assert!(
        ours.output.contains("\r\n"),
        "no ONLCR translation: {:?}",
        &ours.output[..ours.output.len().min(200)]
    );

    let theirs = run_on_tty(&t, &t.runc, &tty_bundle(&t), "runc");
    let rr = parse_report(&theirs.output);
    assert_eq!(r["tty"], rr["tty"], "tty view differs from runc's");
    assert_eq!(r["env"], rr["env"], "env differs from runc's (TERM etc.)");
    assert_eq!(
        ours.message.is_empty(),
        theirs.message.is_empty(),
        "runc sends {:?} with the fd, we sent {:?}",
        theirs.message,
        ours.message
    );
}

#[test]
fn terminal_output_goes_to_the_master() {
    let t = Test::new("tty-echo");
    let mut b = tty_bundle(&t);
    b.args(&["/bin/sh", "-c", "echo hello-from-the-pty; tty"]);
    let run = run_on_tty(&t, &t.rt, &b, "rt");
    assert!(
        run.output.contains("hello-from-the-pty\r\n"),
        "{:?}",
        run.output
    );
    assert!(
        run.output.contains("/dev/pts/"),
        "`tty` inside: {:?}",
        run.output
    );
}

#[test]
fn terminal_without_console_socket_fails_create() {
    let t = Test::new("tty-nosock");
    let b = tty_bundle(&t);
    t.rt.create(&b).fails_with("console socket");
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    t.runc.create(&b).fails_with("console socket");
}

#[test]
fn console_socket_without_terminal_fails() {
    let t = Test::new("tty-noterm");
    let b = t.bundle();
    let sock = t.host_dir("s").join("console.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    t.rt.create_with(&b, &["--console-socket", sock.to_str().unwrap()])
        .fails_with("console socket");
    assert_nothing_left(&t.rt.root, &b.id, &b.dir);
    assert!(Path::new(&sock).exists());
}

/// process.consoleSize: the pty the container gets has that many rows and columns.
#[test]
fn console_size() {
    let t = Test::new("tty-size");
    let sized = || {
        let mut b = tty_bundle(&t);
        b.set("/process/consoleSize", json!({"height": 40, "width": 123}));
        b
    };
    let ours = parse_report(&run_on_tty(&t, &t.rt, &sized(), "rt").output);
    assert_eq!(
        ours["tty"]["winsize0"],
        json!({"rows": 40, "cols": 123}),
        "{}",
        ours["tty"]
    );
    let theirs = parse_report(&run_on_tty(&t, &t.runc, &sized(), "runc").output);
    assert_eq!(
        ours["tty"], theirs["tty"],
        "tty view with consoleSize differs from runc's"
    );
}
