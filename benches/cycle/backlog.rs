//! (k) A day-one backlog: every task already overdue, spread over 500 users evenly or with one
//! assignee holding half. Three measures, each of its own process or runtime:
//! - CPU of one dry-run `once` (the release binary, listing included), at 5,000 and 50,000
//!   tasks, and their ratio (linear is 10);
//! - the largest gap of a 10 ms heartbeat on the cycle's own runtime (one thread: any
//!   synchronous stretch of the cycle shows in full);
//! - how long `run` takes to end after SIGTERM, sent at several moments of its first cycle.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use expediter::fake::{Endpoint, FakeFeishu, FakeTask};

use super::{APP_ID, APP_SECRET, Measured, config, run_measured};

const USERS: usize = 500;

#[derive(Clone, Copy)]
pub enum Shape {
    Even,
    /// One assignee holds half the tasks.
    Skewed,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Even => "even",
            Shape::Skewed => "skewed",
        }
    }
}

pub struct Row {
    pub shape: &'static str,
    pub tasks: usize,
    pub cpu: Duration,
    pub wall: Duration,
    pub peak_rss_kib: u64,
    pub max_gap: Option<Duration>,
    pub stop_times: Vec<Duration>,
}

async fn fake_with_backlog(tasks: usize, shape: Shape) -> FakeFeishu {
    let fake = FakeFeishu::start(APP_ID, APP_SECRET).await.expect("fake");
    for t in 0..tasks {
        let user = match shape {
            Shape::Skewed if t % 2 == 0 => 0,
            Shape::Skewed => 1 + t % (USERS - 1),
            Shape::Even => t % USERS,
        };
        // Ages from 30 h to about 40 days: all due, each more or less overdue.
        let age = Duration::from_secs(30 * 3600 + (t as u64 * 67) % (40 * 86400));
        fake.add_task(FakeTask::new(
            format!("t{t:06}"),
            &[&format!("u{user:05}")],
            age,
        ));
    }
    fake
}

fn write_config(dir: &Path, key: &str, url: &str, cron: &str) -> std::path::PathBuf {
    let db = dir.join(format!("{key}.db"));
    let _ = std::fs::remove_file(&db);
    let cfg = dir.join(format!("{key}.toml"));
    let text = config(url, &db, USERS, 1_000_000, cron).replace(
        "operator_user_id = \"7000\"",
        "operator_user_id = \"7000\"\ndry_run = true",
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// CPU of one dry-run cycle of the release binary (the first: everything listed and stored).
async fn cpu_of_a_cycle(bin: &Path, dir: &Path, fake: &FakeFeishu, key: &str) -> Measured {
    let cfg = write_config(dir, key, &fake.url(), "0 0 0 1 1 *");
    let (bin, cfg) = (bin.to_owned(), cfg.to_str().unwrap().to_owned());
    let m = tokio::task::spawn_blocking(move || run_measured(&bin, &["--config", &cfg, "once"]))
        .await
        .unwrap();
    assert_eq!(m.exit, 0, "dry-run once over the backlog");
    m
}

/// The largest gap between the ticks of a 10 ms heartbeat on the runtime that runs one
/// dry-run cycle in this process (a runtime of one thread, of its own).
fn heartbeat_gap(dir: &Path, url: &str, key: &str) -> Duration {
    let cfg = write_config(dir, key, url, "0 0 0 1 1 *");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let config = expediter::config::Config::load(&cfg).expect("config");
            let engine = expediter::startup::engine_for(config, expediter::clock::Clock::system())
                .await
                .expect("engine");
            let done = Arc::new(AtomicBool::new(false));
            let max_gap_us = Arc::new(AtomicU64::new(0));
            let beat = tokio::spawn({
                let (done, max_gap_us) = (done.clone(), max_gap_us.clone());
                async move {
                    let mut last = Instant::now();
                    while !done.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        let now = Instant::now();
                        let gap = now.duration_since(last).as_micros() as u64;
                        max_gap_us.fetch_max(gap, Ordering::Relaxed);
                        last = now;
                    }
                }
            });
            let report = engine.run_cycle(true).await.expect("cycle");
            assert!(report.expedites_sent > 0, "the backlog was decided");
            done.store(true, Ordering::Relaxed);
            beat.await.unwrap();
            engine.store.close().await;
            Duration::from_micros(max_gap_us.load(Ordering::Relaxed))
        })
    })
    .join()
    .unwrap()
}

/// `run` with a tick every 2 s over the backlog: SIGTERM `after` the first listing call, and
/// the time until the process is gone.
async fn stop_time(
    bin: &Path,
    dir: &Path,
    fake: &FakeFeishu,
    key: &str,
    after: Duration,
) -> Duration {
    let cfg = write_config(dir, key, &fake.url(), "*/2 * * * * *");
    let before = fake.calls_to(Endpoint::Query).len();
    let mut child = Command::new(bin)
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waited = Instant::now();
    while fake.calls_to(Endpoint::Query).len() == before
        && waited.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(after).await;
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let sent = Instant::now();
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    sent.elapsed()
}

/// `in_process`: also measure the heartbeat, which runs this build's engine in this process
/// (not meaningful when `bin` is another build).
pub async fn run(bin: &Path, dir: &Path, sizes: &[usize], in_process: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for shape in [Shape::Even, Shape::Skewed] {
        for &tasks in sizes {
            eprintln!("  backlog {} {tasks} …", shape.name());
            let fake = fake_with_backlog(tasks, shape).await;
            let key = format!("k-{}-{tasks}", shape.name());
            let m = cpu_of_a_cycle(bin, dir, &fake, &key).await;
            let (dir2, url, key2) = (dir.to_owned(), fake.url(), format!("{key}-beat"));
            let max_gap = if in_process {
                Some(
                    tokio::task::spawn_blocking(move || heartbeat_gap(&dir2, &url, &key2))
                        .await
                        .unwrap(),
                )
            } else {
                None
            };
            let mut stop_times = Vec::new();
            if tasks >= 50_000 {
                for after in [0.5, 2.0, 5.0, 10.0, 20.0] {
                    stop_times.push(
                        stop_time(
                            bin,
                            dir,
                            &fake,
                            &format!("{key}-stop"),
                            Duration::from_secs_f64(after),
                        )
                        .await,
                    );
                }
            }
            rows.push(Row {
                shape: shape.name(),
                tasks,
                cpu: m.cpu,
                wall: m.wall,
                peak_rss_kib: m.peak_rss_kib,
                max_gap,
                stop_times,
            });
        }
    }
    rows
}

pub fn print(rows: &[Row]) {
    println!(
        "\n| backlog | due tasks | CPU of one dry-run cycle | wall | peak RSS | largest 10 ms heartbeat gap | SIGTERM → exit (at 0.5/2/5/10/20 s) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        let stops = if r.stop_times.is_empty() {
            "-".to_owned()
        } else {
            r.stop_times
                .iter()
                .map(|d| format!("{:.2}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" / ")
                + " s"
        };
        println!(
            "| {} | {} | {:.2} s | {:.2} s | {:.1} MiB | {} | {} |",
            r.shape,
            r.tasks,
            r.cpu.as_secs_f64(),
            r.wall.as_secs_f64(),
            r.peak_rss_kib as f64 / 1024.0,
            r.max_gap
                .map_or("-".into(), |g| format!("{} ms", g.as_millis())),
            stops
        );
    }
    for shape in ["even", "skewed"] {
        let of = |n: usize| rows.iter().find(|r| r.shape == shape && r.tasks == n);
        if let (Some(small), Some(large)) = (of(5_000), of(50_000)) {
            println!(
                "{shape}: CPU ratio 50,000 / 5,000 = {:.1} (linear: 10)",
                large.cpu.as_secs_f64() / small.cpu.as_secs_f64()
            );
        }
    }
}
