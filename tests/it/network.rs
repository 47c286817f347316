//! A network that drops packets: a connection that never opened sent nothing, so what was due
//! stays due and goes once when the path is back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::*;
use expediter::fake::FakeTask;

/// A loopback HTTP/1.1 relay in front of the simulated Feishu, one request per connection,
/// that can become a black hole: once armed, after the next listing's answer it stops
/// accepting with its accept queue full, so the kernel drops every new SYN — a firewall that
/// drops instead of refusing. No firewall rule, nothing outside loopback.
struct BlackHole {
    addr: SocketAddr,
    listener: Arc<TcpListener>,
    upstream: SocketAddr,
    armed: Arc<AtomicBool>,
    accepting: Mutex<Option<JoinHandle<()>>>,
    /// Connections that fill the accept queue while the hole is open.
    fillers: Mutex<Vec<TcpStream>>,
}

impl BlackHole {
    async fn start(upstream: &str) -> Arc<BlackHole> {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the fake's address");
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        // Backlog 0: the accept queue holds one connection.
        let listener = Arc::new(socket.listen(0).unwrap());
        let hole = Arc::new(BlackHole {
            addr: listener.local_addr().unwrap(),
            listener,
            upstream,
            armed: Arc::new(AtomicBool::new(false)),
            accepting: Mutex::new(None),
            fillers: Mutex::new(Vec::new()),
        });
        hole.accept().await;
        hole
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Accepts (again), relaying each connection.
    async fn accept(self: &Arc<Self>) {
        self.fillers.lock().await.clear();
        let me = Arc::clone(self);
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = me.listener.accept().await {
                let me = Arc::clone(&me);
                tokio::spawn(async move { me.relay(conn).await });
            }
        });
        *self.accepting.lock().await = Some(task);
    }

    /// Stops accepting and fills the accept queue: from now on a connect never completes.
    async fn close(&self) {
        if let Some(task) = self.accepting.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
        let mut fillers = self.fillers.lock().await;
        for _ in 0..8 {
            match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(self.addr))
                .await
            {
                Ok(Ok(c)) => fillers.push(c),
                _ => return, // this SYN was dropped: the queue is full
            }
        }
        panic!("the accept queue never filled");
    }

    async fn relay(&self, mut client: TcpStream) {
        let Some((head, body)) = read_request(&mut client).await else {
            return;
        };
        let listing = head.starts_with(&format!("POST {}", expediter::feishu::QUERY_PATH));
        // One request per upstream connection, read to its end.
        let head = head.replacen("\r\n", "\r\nconnection: close\r\n", 1);
        let mut up = TcpStream::connect(self.upstream).await.unwrap();
        up.write_all(head.as_bytes()).await.unwrap();
        up.write_all(&body).await.unwrap();
        let mut answer = Vec::new();
        up.read_to_end(&mut answer).await.unwrap();
        if listing && self.armed.swap(false, Ordering::SeqCst) {
            self.close().await;
        }
        let _ = client.write_all(&answer).await;
        let _ = client.shutdown().await;
    }
}

/// One request's head (through the blank line) and its body (by content-length).
async fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

/// An env with one watched user (one listing a cycle) whose Feishu is behind a [`BlackHole`].
async fn behind_a_black_hole(rules: &str) -> (TestEnv, Arc<BlackHole>) {
    let env = TestEnv::new().await;
    let hole = BlackHole::start(&env.fake.url()).await;
    // Connecting gets half the request's 2 s; one retry.
    env.write_config_with_users(
        "request_timeout = \"2s\"\nmax_retries = 1",
        "[[users]]\nid = \"u1\"\n",
        rules,
    );
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(&env.config_path, text.replace(&env.fake.url(), &hole.url())).unwrap();
    (env, hole)
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn a_reminder_whose_connection_never_opened_stays_due_and_goes_once_later() {
        let (env, hole) = behind_a_black_hole(RULE_ONCE_AFTER_24H).await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        // The listing goes through; then every new connection's SYN is dropped.
        hole.armed.store(true, Ordering::SeqCst);
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 1, "the reminder did not go: {}", run.all());
        assert!(env.fake.expedites().is_empty(), "nothing reached Feishu");
        assert!(
            !run.stderr.contains("outcome unknown"),
            "a connect that never completed is not 'unknown': {}",
            run.stderr
        );
        assert_eq!(env.plan_json().await.len(), 1);
        // The path is back: the reminder goes, once.
        hole.accept().await;
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.fake.expedites().len(), 1);
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.fake.expedites().len(), 1, "and never again");
    }
}

both_backends! {
    #[tokio::test(flavor = "multi_thread")]
    pub async fn an_escalation_whose_connection_never_opened_stays_due_and_goes_once_later() {
        let (env, hole) = behind_a_black_hole(
            "[[rules]]\nname = \"chase\"\nafter = \"1h\"\nmax_times = 1\n[rules.escalate]\nafter_times = 1\ncc = [\"7000\"]\n",
        )
        .await;
        env.add(FakeTask::new("t1", &["u1"], 30 * HOUR));
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.fake.expedites().len(), 1);
        // The next listing still shows it pending: the cc is due, and its connection never opens.
        hole.armed.store(true, Ordering::SeqCst);
        let run = env.run(&["once"]).await;
        assert!(
            env.fake.ccs().is_empty(),
            "nothing reached Feishu: {}",
            run.all()
        );
        assert!(
            !run.stderr.contains("outcome unknown"),
            "a connect that never completed is not 'unknown': {}",
            run.stderr
        );
        hole.accept().await;
        let run = env.run(&["once"]).await;
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(env.fake.ccs().len(), 1, "{}", run.all());
        env.run(&["once"]).await;
        assert_eq!(env.fake.ccs().len(), 1, "and never again");
    }
}
