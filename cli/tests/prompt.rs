//! The interactive `quiver sql` prompt, driven through a pseudo-terminal as a person would:
//! `SHOW TABLES`, `\d` and `\d NAME` answer; Ctrl-C during a long query cancels it and the
//! prompt comes back; Ctrl-C twice at an empty prompt exits. Every wait is bounded.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quiver_store::io::{export_batches, ExportOptions};

/// A child process whose stdin, stdout and stderr are the slave side of a new pseudo-terminal,
/// which is also its controlling terminal (so Ctrl-C written to the master raises SIGINT in it).
struct Terminal {
    child: Child,
    master: std::fs::File,
    output: Arc<Mutex<Vec<u8>>>,
    /// Output before this byte has been matched already.
    seen: usize,
}

impl Terminal {
    fn spawn(mut command: Command) -> Self {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: `openpty` writes two descriptors into the two integers it is given and reads
        // nothing else (null name, termios and window size are allowed).
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened by `openpty` and are owned by nobody else.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        command
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec the closure calls only `setsid` and `ioctl`, both
        // async-signal-safe, and allocates nothing.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        let master = std::fs::File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends when the child is gone and the slave side is closed (EIO).
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            child,
            master,
            output,
            seen: 0,
        }
    }

    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    /// Waits (at most `limit`) until the output after what was matched before contains `text`;
    /// returns the output up to and including it.
    fn expect(&mut self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            {
                let out = self.output.lock().unwrap();
                let fresh = String::from_utf8_lossy(&out[self.seen..]).into_owned();
                if let Some(at) = fresh.find(text) {
                    self.seen += fresh[..at + text.len()].len();
                    return fresh[..at + text.len()].to_owned();
                }
                if Instant::now() > deadline {
                    panic!("no {text:?} within {limit:?}; the terminal shows:\n{fresh}");
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most `limit`) for the process to exit; returns its exit code.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the prompt did not exit within {limit:?}");
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prompt_lists_tables_and_a_long_query_is_cancelled_by_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let (schema, batches) = quiver_store::tpch::batches("nation", 0.01, 1, 1, 1000).unwrap();
    let parquet = tmp.path().join("nation.parquet");
    export_batches(
        schema,
        batches,
        &parquet,
        &ExportOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let table = tmp.path().join("db").join("nation");
    let import = Command::new(env!("CARGO_BIN_EXE_quiver"))
        .args(["import", "-q"])
        .arg(&parquet)
        .arg(&table)
        .status()
        .unwrap();
    assert!(import.success());

    let mut command = Command::new(env!("CARGO_BIN_EXE_quiver"));
    command
        .arg("sql")
        .arg("--db")
        .arg(tmp.path().join("db"))
        .env("HOME", tmp.path())
        // A real terminal type: rustyline then reads keys in raw mode, where Ctrl-C at the
        // prompt is a key, as for a user.
        .env("TERM", "xterm");
    let mut term = Terminal::spawn(command);
    let wait = Duration::from_secs(30);
    term.expect("quiver> ", wait);

    term.send("SHOW TABLES;\r");
    let shown = term.expect("quiver> ", wait);
    assert!(shown.contains("nation"), "{shown}");
    term.send("\\d\r");
    let listed = term.expect("quiver> ", wait);
    assert!(listed.contains("nation"), "{listed}");
    term.send("\\d nation\r");
    let columns = term.expect("quiver> ", wait);
    assert!(
        columns.contains("n_name") && columns.contains("n_regionkey"),
        "{columns}"
    );

    // 10^11 generated rows, filtered (so no statistic answers it): far longer than the test
    // waits, unless cancelled; streamed, so it holds no memory meanwhile.
    term.send("SELECT count(*) FROM range(100000000000) WHERE value % 7 = 3;\r");
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    term.send("\x03");
    term.expect("cancelled after", Duration::from_secs(20));
    term.expect("quiver> ", wait);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cancelling took {:?}",
        started.elapsed()
    );

    // The session still answers after the cancelled query.
    term.send("SELECT count(*) AS c FROM nation;\r");
    let answer = term.expect("quiver> ", wait);
    assert!(answer.contains("25"), "{answer}");

    // Ctrl-C at an empty prompt says how to quit; a second one quits.
    term.send("\x03");
    term.expect("Ctrl-C again", wait);
    term.send("\x03");
    assert_eq!(term.wait(wait), Some(0));
}

#[test]
fn sql_text_that_starts_with_a_comment_is_not_taken_for_an_option() {
    assert_cmd::Command::cargo_bin("quiver")
        .unwrap()
        .args([
            "sql",
            "--format",
            "csv",
            "-- TPC-H files start like this\nSELECT 1 + 1 AS two",
        ])
        .assert()
        .success()
        .stdout("two\n2\n");
}
