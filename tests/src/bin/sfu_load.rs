//! Measures the sfu's forwarding capacity on loopback: publishers and subscribers through
//! the real HTTP API and UDP, for each subscriber count of a sweep, against a plain UDP
//! fan-out of the same packets measured in the same run. Prints a markdown table.
//!
//! `cargo run --release -p integration-tests --bin sfu_load -- --help`
//!
//! Method and caveats: `docs/load.md`.
// The table is the program's output.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use clap::Parser;
use integration_tests::load::{run_point, run_reference, PointConfig};

/// Forwarding capacity of the sfu on loopback, against a plain UDP fan-out.
#[derive(Debug, Parser)]
#[command(name = "sfu_load")]
struct Args {
    /// Publishers (each sends audio and video).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Subscribers per publisher, one point each (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 50])]
    subscribers: Vec<usize>,
    /// Video bitrate per publisher, kbit/s.
    #[arg(long, default_value_t = 2500)]
    bitrate_kbps: u64,
    /// Video datagram size, bytes.
    #[arg(long, default_value_t = 1200, value_parser = clap::value_parser!(u16).range(100..=1400))]
    packet_size: u16,
    /// Measurement window per point (and per reference), seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Sending before each window, seconds.
    #[arg(long, default_value_t = 1.5)]
    warmup: f64,
    /// The sfu's UDP worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Skip the plain UDP fan-out reference.
    #[arg(long)]
    no_reference: bool,
}

/// Upper bounds, so a typo cannot turn the harness into a flood.
const MAX_PEERS: usize = 500;
const MAX_SECONDS: f64 = 120.0;

fn main() {
    let args = Args::parse();
    // Logs only when asked for (`RUST_LOG=sfu=debug`): they would cost CPU in the window.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    if let Err(e) = check(&args) {
        eprintln!("sfu_load: {e}");
        std::process::exit(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sfu_load: cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(&args)) {
        eprintln!("sfu_load: {e}");
        std::process::exit(1);
    }
}

fn check(args: &Args) -> Result<(), String> {
    for &s in &args.subscribers {
        if args.publishers == 0 || args.publishers.saturating_mul(s.saturating_add(1)) > MAX_PEERS {
            return Err(format!("publishers x (subscribers + 1) must be 1..={MAX_PEERS}"));
        }
    }
    if !(0.1..=MAX_SECONDS).contains(&args.duration) || !(0.0..=MAX_SECONDS).contains(&args.warmup)
    {
        return Err(format!("--duration and --warmup must be within {MAX_SECONDS} s"));
    }
    if args.workers == 0 || args.workers > 16 || !(1..=100_000).contains(&args.bitrate_kbps) {
        return Err("--workers must be 1..=16 and --bitrate-kbps 1..=100000".into());
    }
    Ok(())
}

async fn run(args: &Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    println!(
        "publishers {}, video {} kbit/s in {}-byte packets + audio 50 packets/s, window {} s, \
         warm-up {} s, {} sfu worker(s)\n",
        args.publishers,
        args.bitrate_kbps,
        args.packet_size,
        args.duration,
        args.warmup,
        args.workers
    );
    println!(
        "| subscribers | sent pkt/s | sfu forwarded pkt/s | received pkt/s | loss | sfu CPU (cores) \
         | process CPU (cores) | forwarded pkt per CPU-s | subscribers per core | reference: fan-out pkt/s \
         | reference: pkt per CPU-s | sfu cost per packet vs reference |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &subscribers in &args.subscribers {
        let config = PointConfig {
            publishers: args.publishers,
            subscribers,
            video_bitrate: args.bitrate_kbps * 1000,
            packet_size: usize::from(args.packet_size),
            warmup: Duration::from_secs_f64(args.warmup),
            duration: Duration::from_secs_f64(args.duration),
            workers: args.workers,
            ..PointConfig::default()
        };
        let point = run_point(&config).await?;
        let window = point.window.as_secs_f64();
        let total_subscribers = (args.publishers * subscribers) as f64;
        let reference = if args.no_reference { None } else { Some(run_reference(&config).await?) };
        let (ref_rate, ref_per_cpu, versus) = match &reference {
            Some(r) => (
                format!("{:.0}", r.copies_rate()),
                format!("{:.0}", r.copies_per_cpu_second()),
                format!("{:.1}x", r.copies_per_cpu_second() / point.forwarded_per_cpu_second()),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {} x {} | {:.0} | {:.0} | {:.0} | {:.3}% | {:.3} | {:.3} | {:.0} | {:.0} | {} | {} | {} |",
            args.publishers,
            subscribers,
            point.sent as f64 / window,
            point.forwarded_rate(),
            point.received_rate(),
            point.loss() * 100.0,
            point.sfu_cores(),
            point.process_cpu.as_secs_f64() / window,
            point.forwarded_per_cpu_second(),
            total_subscribers / point.sfu_cores().max(1e-9),
            ref_rate,
            ref_per_cpu,
            versus,
        );
    }
    Ok(())
}
