//! The console under a connection flood, against the real process with systemd's default
//! descriptor limit: the engine's cycles go on, a half-sent request and a silent connection are
//! closed, an endless head is cut off. SQLite only: the flood is at the console's listener, and
//! the database that starves under it is the local file (the same cap holds for PostgreSQL's
//! sockets).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::helpers::*;

/// 1,100 idle connections against a daemon limited to 1,024 descriptors: every cycle still
/// finishes (none fails to open the database), and once the flood is gone the console answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_flood_does_not_stop_the_engine() {
    let env = TestEnv::new().await;
    one_due_task_each(&env, 3);
    with_cron(&env, "*/2 * * * * *");
    let port = with_console(&env, "");
    let daemon = Daemon::start_limited(&env, 1024);
    wait_for_console(port).await;
    daemon
        .wait_for("cycle finished", 1, Duration::from_secs(20))
        .await;

    // All at once, as a flood comes, each held open: past the console's cap they wait in the
    // kernel's accept queue, or hang in connect — holding none of the daemon's descriptors.
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..1100 {
        flood.spawn(async move {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)).await {
                tokio::time::sleep(Duration::from_secs(120)).await;
                drop(s);
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The flood holds; the engine goes on: three more cycles, each finished, and the daemon's
    // descriptors stay far below its limit.
    let before = daemon.log().matches("cycle finished").count();
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.log().matches("cycle finished").count() < before + 3 {
        assert!(
            Instant::now() < deadline,
            "cycles stopped under the flood:\n{}",
            daemon.log()
        );
        let open = std::fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
            .map(|d| d.count())
            .unwrap_or(0);
        most = most.max(open);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        most < 400,
        "the daemon held {most} descriptors under the flood"
    );
    let log = daemon.log();
    assert!(!log.contains("unable to open database file"), "{log}");
    assert!(!log.contains("cycle failed"), "{log}");
    flood.abort_all();
    while flood.join_next().await.is_some() {}
    // The console serves again once the flood is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = browser()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the console did not answer after the flood"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
}

/// A half-sent request and a connection that never says anything are closed by the server
/// (within the head-read timeout, 10 s); a head past 16 KiB is refused with 431.
#[tokio::test(flavor = "multi_thread")]
async fn slow_silent_and_endless_heads_are_cut_off() {
    let env = TestEnv::new().await;
    let port = with_console(&env, "");
    let daemon = Daemon::start(&env, &[]);
    wait_for_console(port).await;

    let mut half = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let closed_within = |mut s: TcpStream| async move {
        let start = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
                Ok(Ok(_)) => continue,
                Err(_) => panic!("still open after 20 s"),
            }
        }
    };
    let (a, b) = tokio::join!(closed_within(half), closed_within(silent));
    assert!(
        a <= Duration::from_secs(12),
        "half-sent request open for {a:?}"
    );
    assert!(
        b <= Duration::from_secs(12),
        "silent connection open for {b:?}"
    );

    let mut endless = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    endless
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
    let mut answer = Vec::new();
    for _ in 0..64 {
        if endless.write_all(line.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), endless.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let (code, _, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
}
