//! The cycle benchmark: how close one cycle comes to the rate budget's bound, how few calls it
//! spends, and what it costs the host. Run with `cargo bench --bench cycle` (all scenarios) or
//! `cargo bench --bench cycle -- a b` (some of them); `p` sets expediter beside a naive script.
//!
//! Each scenario starts the repo's simulated Feishu in this process, writes a config, and runs
//! the real `expediter` binary (release build) against it as a child process, so CPU time and
//! peak RSS are those of the whole `expediter` process, read from `wait4`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use expediter::fake::{CallKind, CallRecord, Endpoint, FakeFeishu, FakeTask};

mod backlog;
mod cadence;
mod peer;

const APP_ID: &str = "cli_bench";
const APP_SECRET: &str = "bench-secret";

struct Scenario {
    key: &'static str,
    name: String,
    users: usize,
    tasks_per_user: usize,
    /// How many of each user's tasks are due (old enough).
    due_per_user: usize,
    requests_per_minute: u32,
    /// The fake's limit: calls per window, per API.
    fake_limit: Option<(usize, Duration)>,
    /// Run a second, steady-state cycle on the same database and report that one too.
    steady: bool,
    /// List everything once first (a dry run, unmeasured), as a running daemon would have.
    warm_up: bool,
}

struct Measured {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
    exit: i32,
}

struct Report {
    scenario: String,
    cycle: &'static str,
    tasks: usize,
    measured: Measured,
    query_calls: usize,
    expedite_calls: usize,
    min_query: usize,
    min_expedite: usize,
    limited: usize,
    bound: Duration,
}

fn scenarios() -> Vec<Scenario> {
    let mut s = vec![
        Scenario {
            key: "a",
            name: "(a) 100 users × 1 due task, 1000/min, fake 50 per 3 s".into(),
            users: 100,
            tasks_per_user: 1,
            due_per_user: 1,
            requests_per_minute: 1000,
            fake_limit: Some((50, Duration::from_secs(3))),
            steady: false,
            warm_up: true,
        },
        Scenario {
            key: "a-cold",
            name: "(a) same, tasks never seen before".into(),
            users: 100,
            tasks_per_user: 1,
            due_per_user: 1,
            requests_per_minute: 1000,
            fake_limit: Some((50, Duration::from_secs(3))),
            steady: false,
            warm_up: false,
        },
    ];
    for (key, users) in [("b10k", 200), ("b50k", 1000), ("b", 2000)] {
        s.push(Scenario {
            key,
            name: format!(
                "(b) {users} users × 50 tasks = {}k, nothing due, unlimited",
                users * 50 / 1000
            ),
            users,
            tasks_per_user: 50,
            due_per_user: 0,
            requests_per_minute: 1_000_000,
            fake_limit: None,
            steady: true,
            warm_up: false,
        });
    }
    s
}

/// `[storage] database` for a bench's database file `db`: the file, or — with
/// `EXPEDITER_BENCH_PG` naming a PostgreSQL cluster (as `.ci/with-postgres` hands out in
/// `EXPEDITER_TEST_PG`) — a database on it of a name derived from the path, created empty the
/// first time (so a steady cycle finds its first cycle's data).
fn database_for(db: &Path) -> String {
    let Ok(admin) = std::env::var("EXPEDITER_BENCH_PG") else {
        return db.display().to_string();
    };
    let name = format!(
        "bench_{:016x}",
        xxhash_rust::xxh3::xxh3_64(db.as_os_str().as_encoded_bytes())
    );
    let _ = std::process::Command::new("psql")
        .args(["-q", &admin, "-c", &format!("CREATE DATABASE {name}")])
        .stderr(std::process::Stdio::null())
        .status();
    expediter::fake::postgres::with_database(&admin, &name)
}

fn config(url: &str, db: &Path, users: usize, rpm: u32, cron: &str) -> String {
    let mut text = format!(
        r#"[feishu]
base_url = "{url}"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
requests_per_minute = {rpm}
request_timeout = "10s"

[schedule]
cron = "{cron}"
timezone = "Asia/Shanghai"

[storage]
database = "{db}"

[expedite]
operator_user_id = "7000"

[[rules]]
name = "default"
after = "24h"
"#,
        db = database_for(db)
    );
    for i in 0..users {
        text.push_str(&format!("\n[[users]]\nid = \"u{i:05}\"\n"));
    }
    text
}

/// Runs `expediter` with `args` and measures the whole process.
///
/// Peak RSS comes from GNU time when it is installed: a child spawned straight from this
/// process (whose simulated Feishu holds every task) starts with this process's high-water
/// mark in its own `ru_maxrss`, which would hide the real figure. `time` is small, and the
/// `expediter` it forks starts clean.
// The child is reaped by wait4, which also reports its resource usage.
#[allow(clippy::zombie_processes)]
fn run_measured(bin: &Path, args: &[&str]) -> Measured {
    let start = Instant::now();
    // EXPEDITER_BENCH_WRAP="perf record -g -o /tmp/perf.data" profiles the measured process.
    let wrap = std::env::var("EXPEDITER_BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let time_out =
        std::env::temp_dir().join(format!("expediter-bench-time-{}", std::process::id()));
    let _ = std::fs::remove_file(&time_out);
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut cmd = match (words.next(), gnu_time) {
        (Some(tool), _) => {
            let mut c = Command::new(tool);
            c.args(words).arg(bin);
            c
        }
        (None, true) => {
            let mut c = Command::new("/usr/bin/time");
            c.arg("-f").arg("%M").arg("-o").arg(&time_out).arg(bin);
            c
        }
        (None, false) => Command::new(bin),
    };
    let child = cmd
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("expediter starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let wall = start.elapsed();
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let peak_rss_kib = std::fs::read_to_string(&time_out)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(usage.ru_maxrss as u64);
    Measured {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss_kib,
        exit: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    }
}

fn count(calls: &[CallRecord], endpoint: Endpoint) -> usize {
    calls.iter().filter(|c| c.endpoint == endpoint).count()
}

async fn run_scenario(bin: &Path, s: &Scenario, dir: &Path) -> Vec<Report> {
    let fake = FakeFeishu::start(APP_ID, APP_SECRET).await.expect("fake");
    if let Some((limit, window)) = s.fake_limit {
        fake.set_rate_limit(Endpoint::Query, limit, window);
        fake.set_rate_limit(Endpoint::Acts(CallKind::Expedite), limit, window);
    }
    for u in 0..s.users {
        let user = format!("u{u:05}");
        for t in 0..s.tasks_per_user {
            let age = if t < s.due_per_user {
                Duration::from_secs(30 * 3600)
            } else {
                Duration::from_secs(3600)
            };
            fake.add_task(FakeTask::new(format!("t{u:05}-{t:02}"), &[&user], age));
        }
    }
    let db = dir.join(format!("{}.db", s.key));
    let cfg = dir.join(format!("{}.toml", s.key));
    std::fs::write(
        &cfg,
        config(
            &fake.url(),
            &db,
            s.users,
            s.requests_per_minute,
            "0 0 0 1 1 *",
        ),
    )
    .unwrap();
    if s.warm_up {
        let (bin, cfg_s) = (bin.to_owned(), cfg.to_str().unwrap().to_owned());
        let warm = tokio::task::spawn_blocking(move || {
            run_measured(&bin, &["--config", &cfg_s, "once", "--dry-run"])
        })
        .await
        .unwrap();
        assert_eq!(warm.exit, 0, "warm-up");
        // Let the fake's rate windows empty.
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    let pages_per_user = s.tasks_per_user.div_ceil(50).max(1);
    let min_query = s.users * pages_per_user;
    let mut reports = Vec::new();
    let cycles: &[&'static str] = if s.steady {
        &["first", "steady"]
    } else {
        &["first"]
    };
    for cycle in cycles {
        let before = fake.calls();
        let bin = bin.to_owned();
        let cfg_s = cfg.to_str().unwrap().to_owned();
        let measured =
            tokio::task::spawn_blocking(move || run_measured(&bin, &["--config", &cfg_s, "once"]))
                .await
                .unwrap();
        let calls = fake.calls();
        let new = &calls[before.len()..];
        let query_calls = count(new, Endpoint::Query);
        let expedite_calls = count(new, Endpoint::Acts(CallKind::Expedite));
        let min_expedite = if *cycle == "first" {
            s.users * s.due_per_user
        } else {
            0
        };
        let period = 60.0 / f64::from(s.requests_per_minute);
        let bound = Duration::from_secs_f64(query_calls.max(expedite_calls) as f64 * period);
        reports.push(Report {
            scenario: s.name.clone(),
            cycle,
            tasks: s.users * s.tasks_per_user,
            measured,
            query_calls,
            expedite_calls,
            min_query,
            min_expedite,
            limited: new.iter().filter(|c| c.status == 429).count(),
            bound,
        });
    }
    reports
}

/// (p): two runs of a naive script, then two runs of `expediter once`, each on its own fake.
async fn peer_scenario(bin: &Path, dir: &Path) -> Vec<peer::Side> {
    let between = Duration::from_secs(4);
    let script = peer::fake(APP_ID, APP_SECRET).await;
    let mut wall = Duration::ZERO;
    for run in 0..2 {
        if run > 0 {
            // The next cron tick: the fake's windows have emptied.
            tokio::time::sleep(between).await;
        }
        wall += peer::run_script(&script.url(), APP_ID, APP_SECRET).await;
    }
    let script = peer::side(
        "script: list, expedite every old task, no pacing, no memory",
        &script,
        wall,
    );

    let fake = peer::fake(APP_ID, APP_SECRET).await;
    let db = dir.join("peer.db");
    let cfg = dir.join("peer.toml");
    std::fs::write(
        &cfg,
        config(&fake.url(), &db, peer::USERS, 1000, "0 0 0 1 1 *"),
    )
    .unwrap();
    let mut wall = Duration::ZERO;
    for run in 0..2 {
        if run > 0 {
            tokio::time::sleep(between).await;
        }
        let (bin, cfg_s) = (bin.to_owned(), cfg.to_str().unwrap().to_owned());
        let m =
            tokio::task::spawn_blocking(move || run_measured(&bin, &["--config", &cfg_s, "once"]))
                .await
                .unwrap();
        assert_eq!(m.exit, 0, "expediter once");
        wall += m.wall;
    }
    let ours = peer::side("expediter once, 1000/min", &fake, wall);
    vec![script, ours]
}

/// (c): the daemon between cycles. RSS and CPU over a quiet stretch.
async fn idle_daemon(bin: &Path, dir: &Path) -> (u64, Duration, Duration) {
    let fake = FakeFeishu::start(APP_ID, APP_SECRET).await.expect("fake");
    for u in 0..100 {
        fake.add_task(FakeTask::new(
            format!("t{u}"),
            &[&format!("u{u:05}")],
            Duration::from_secs(3600),
        ));
    }
    let db = dir.join("idle.db");
    let cfg = dir.join("idle.toml");
    // A cycle every 30 s: the first at :00 or :30, then quiet.
    std::fs::write(&cfg, config(&fake.url(), &db, 100, 6000, "*/30 * * * * *")).unwrap();
    let mut child = Command::new(bin)
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait for the first cycle to finish, then measure 10 s of idling.
    let start = Instant::now();
    while fake.calls().len() < 100 && start.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu0 = proc_cpu(pid);
    let quiet = Duration::from_secs(10);
    tokio::time::sleep(quiet).await;
    let cpu1 = proc_cpu(pid);
    let rss = proc_status_kib(pid, "VmRSS:");
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = child.wait();
    (rss, cpu1.saturating_sub(cpu0), quiet)
}

fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |key: &str| args.is_empty() || args.iter().any(|a| a == key);
    // EXPEDITER_BENCH_BIN measures another build of the binary (an earlier one, say).
    let other_bin = std::env::var_os("EXPEDITER_BENCH_BIN").map(PathBuf::from);
    let bin = other_bin
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_expediter")));
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut reports = Vec::new();
    for s in scenarios() {
        if !wanted(s.key) {
            continue;
        }
        eprintln!("running {} …", s.name);
        reports.extend(rt.block_on(run_scenario(&bin, &s, dir.path())));
    }
    println!(
        "\n| scenario | cycle | tasks | wall | bound | wall/bound | query calls (min) | expediting calls (min) | 429s | CPU | peak RSS | exit |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &reports {
        let ratio = if r.bound.is_zero() {
            "-".to_owned()
        } else {
            format!(
                "{:.3}",
                r.measured.wall.as_secs_f64() / r.bound.as_secs_f64()
            )
        };
        println!(
            "| {} | {} | {} | {:.2} s | {:.2} s | {} | {} ({}) | {} ({}) | {} | {:.2} s | {:.1} MiB | {} |",
            r.scenario,
            r.cycle,
            r.tasks,
            r.measured.wall.as_secs_f64(),
            r.bound.as_secs_f64(),
            ratio,
            r.query_calls,
            r.min_query,
            r.expedite_calls,
            r.min_expedite,
            r.limited,
            r.measured.cpu.as_secs_f64(),
            r.measured.peak_rss_kib as f64 / 1024.0,
            r.measured.exit
        );
    }
    if wanted("p") {
        eprintln!("running (p) expediter beside a cron'd script …");
        let sides = rt.block_on(peer_scenario(&bin, dir.path()));
        peer::print(&sides);
    }
    if wanted("k") || wanted("k5k") {
        eprintln!("running (k) a day-one backlog …");
        let sizes: &[usize] = if wanted("k") {
            &[5_000, 50_000]
        } else {
            &[5_000]
        };
        let rows = rt.block_on(backlog::run(&bin, dir.path(), sizes, other_bin.is_none()));
        backlog::print(&rows);
    }
    // (l) and (l5k) take minutes: only when asked for by name.
    for sc in [&cadence::THREE_DAYS, &cadence::ORG_DAY] {
        if args.iter().any(|a| a == sc.key) {
            eprintln!("running ({}) listing cadence …", sc.key);
            let (every, auto, late_r, late_e) = rt.block_on(cadence::run(sc, dir.path()));
            cadence::print(sc, &every, &auto, late_r, late_e);
        }
    }
    if wanted("c") {
        eprintln!("running (c) idle daemon …");
        let (rss, cpu, over) = rt.block_on(idle_daemon(&bin, dir.path()));
        println!(
            "\n(c) idle daemon (100 users, after its first cycle): RSS {:.1} MiB, CPU {} ms over {} s",
            rss as f64 / 1024.0,
            cpu.as_millis(),
            over.as_secs()
        );
    }
}
