//! A stop in time with the database gone silent: a PostgreSQL server behind a network that
//! drops packets (or hung) answers nothing, so every statement and every new connection waits
//! for ever — SIGTERM must still end the daemon within systemd's `TimeoutStopSec`, and SIGHUP
//! onto such a database must not hold up the signals that come after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UnixStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::*;
use expediter::fake::FakeTask;

/// A loopback TCP relay to the test cluster's unix socket that can go silent: from then on
/// the connections it carries pass nothing either way (left open: a hung server, or a network
/// that drops packets), and a new connection never completes (it stops accepting with its
/// accept queue full, so the kernel drops every SYN).
struct Silence {
    port: u16,
    listener: Arc<TcpListener>,
    silent: Arc<AtomicBool>,
    accepting: Mutex<Option<JoinHandle<()>>>,
    fillers: Mutex<Vec<TcpStream>>,
}

impl Silence {
    async fn start() -> Arc<Silence> {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        // Backlog 0: the accept queue holds one connection.
        let listener = Arc::new(socket.listen(0).unwrap());
        let relay = Arc::new(Silence {
            port: listener.local_addr().unwrap().port(),
            listener,
            silent: Arc::new(AtomicBool::new(false)),
            accepting: Mutex::new(None),
            fillers: Mutex::new(Vec::new()),
        });
        let me = Arc::clone(&relay);
        let task = tokio::spawn(async move {
            let upstream = cluster_socket();
            while let Ok((conn, _)) = me.listener.accept().await {
                let Ok(up) = UnixStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = conn.into_split();
                let (ur, uw) = up.into_split();
                tokio::spawn(pass(cr, uw, me.silent.clone()));
                tokio::spawn(pass(ur, cw, me.silent.clone()));
            }
        });
        *relay.accepting.lock().await = Some(task);
        relay
    }

    /// `url` (a database on the test cluster) reached through this relay.
    fn url(&self, url: &str) -> String {
        let name = reqwest::Url::parse(url).unwrap().path().to_owned();
        format!(
            "postgres://postgres@127.0.0.1:{}{name}?sslmode=disable",
            self.port
        )
    }

    /// From now on nothing passes and nothing connects.
    async fn go_silent(&self) {
        self.silent.store(true, Ordering::SeqCst);
        if let Some(task) = self.accepting.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
        let mut fillers = self.fillers.lock().await;
        for _ in 0..8 {
            let addr = format!("127.0.0.1:{}", self.port);
            match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
                Ok(Ok(c)) => fillers.push(c),
                _ => return, // this SYN was dropped: the queue is full
            }
        }
        panic!("the accept queue never filled");
    }
}

/// Copies one direction until the relay goes silent; then holds both ends open, passing nothing.
async fn pass(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    silent: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if silent.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The test cluster's unix socket (from `EXPEDITER_TEST_PG`'s `host=` and port).
fn cluster_socket() -> std::path::PathBuf {
    let url = reqwest::Url::parse(&expediter::fake::postgres::cluster_url()).unwrap();
    let host = url
        .query_pairs()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.into_owned())
        .expect("the test cluster is reached by its unix socket");
    let port = url.port().unwrap_or(5432);
    std::path::Path::new(&host).join(format!(".s.PGSQL.{port}"))
}

/// A daemon on PostgreSQL through the relay, ticking every second with a task due.
async fn daemon_through(relay: &Silence) -> (TestEnv, Daemon) {
    let env = TestEnv::new_postgres().await;
    with_cron(&env, "* * * * * *");
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        config.replace(&env.database, &relay.url(&env.database)),
    )
    .unwrap();
    env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("active (lease epoch 1)", 1, Duration::from_secs(20))
        .await;
    daemon.wait_for_next_cycle().await;
    (env, daemon)
}

#[tokio::test]
async fn sigterm_with_the_database_silent_exits_within_ten_seconds() {
    let relay = Silence::start().await;
    let (_env, daemon) = daemon_through(&relay).await;
    relay.go_silent().await;
    // Long enough for a tick's statements and the lease's renewal to hang on it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (code, took, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(
        took < Duration::from_secs(10),
        "stopped after {took:?}: {log}"
    );
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn sighup_onto_a_silent_database_does_not_hold_up_sigterm() {
    let relay = Silence::start().await;
    relay.go_silent().await;
    let env = TestEnv::new_postgres().await;
    let daemon = Daemon::start(&env, &[]);
    daemon
        .wait_for("active (lease epoch 1)", 1, Duration::from_secs(20))
        .await;
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        config.replace(&env.database, &relay.url(&env.database)),
    )
    .unwrap();
    daemon.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, took, log) = daemon.stop().await;
    assert_eq!(code, 0, "{log}");
    assert!(
        took < Duration::from_secs(3),
        "SIGTERM answered after {took:?}: {log}"
    );
}
