//! The `sfu` binary: the HTTP API, the demo page and the UDP media plane in one process.
//!
//! With no flags it runs on loopback: HTTP on 127.0.0.1:8080, media on UDP 127.0.0.1:3480
//! and [::1]:3480, app id `default` and a random secret printed at start. The first line on
//! stdout is machine-readable: `listening http=ADDR udp=ADDR[,ADDR]`.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use sfu::config::{
    Config, DemoAccess, TurnKey, DEFAULT_APP_ID, DEFAULT_HTTP_LISTEN, DEFAULT_TURN_KEY_ID,
    MAX_WORKERS,
};

/// Selective forwarding unit with a Cloudflare Calls-compatible HTTP API.
///
/// Runs on loopback with no flags: HTTP on 127.0.0.1:8080, media on UDP 127.0.0.1:3480 and
/// [::1]:3480, app id "default" and a random app secret printed at start.
#[derive(Debug, Parser)]
#[command(name = "sfu", version)]
struct Args {
    /// Address of the HTTP API and the demo page.
    #[arg(long, value_name = "ADDR:PORT", default_value_t = DEFAULT_HTTP_LISTEN)]
    http_listen: SocketAddr,

    /// UDP address for media; repeat once per address family (one IPv4, one IPv6).
    /// [default: 127.0.0.1:3480 and [::1]:3480, IPv6 skipped if unavailable]
    #[arg(long, value_name = "ADDR:PORT")]
    udp_listen: Vec<SocketAddr>,

    /// Address to advertise in ICE candidates instead of the bound one (behind NAT, or
    /// when bound to 0.0.0.0 / ::), with the bound port; repeat once per family.
    #[arg(long, value_name = "IP")]
    announce_ip: Vec<IpAddr>,

    /// Application id in the API paths (/v1/apps/{appId}/...).
    #[arg(long, value_name = "ID", default_value = DEFAULT_APP_ID)]
    app_id: String,

    /// Bearer token of the API. Also read from the environment variable SFU_APP_SECRET.
    /// [default: 32 random hex characters, printed at start]
    #[arg(long, value_name = "SECRET")]
    app_secret: Option<String>,

    /// UDP worker threads (each binds its own socket with SO_REUSEPORT).
    /// [default: one per CPU, at most 16]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS as i64))]
    workers: Option<u16>,

    /// Who may use the demo page at /: "loopback" hands the page API access only when it
    /// is loaded from this machine (http://127.0.0.1, http://localhost), "public" hands it
    /// to anyone who reaches the HTTP port (only behind HTTPS and only for a demo: they can
    /// then use the whole API), "off" disables the demo endpoints.
    #[arg(long, value_name = "WHO", default_value = "loopback", value_parser = parse_demo)]
    demo: DemoAccess,

    /// Id of the TURN key in /v1/turn/keys/{keyId}/credentials/... (used with
    /// --turn-key-secret).
    #[arg(long, value_name = "ID", default_value = DEFAULT_TURN_KEY_ID)]
    turn_key_id: String,

    /// Secret of the TURN key: the bearer token of the TURN credential routes and the shared
    /// secret the credentials are signed with (give the same one to `turn --auth-secret`).
    /// Also read from the environment variable SFU_TURN_KEY_SECRET. Without it the TURN
    /// credential routes answer 404.
    #[arg(long, value_name = "SECRET")]
    turn_key_secret: Option<String>,

    /// Host name or IP address of the turn server in the minted ICE server URLs.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    turn_host: String,

    /// UDP port of the turn server in the URLs (stun: uses the first); repeatable.
    /// [default: 3478 and 53]
    #[arg(long, value_name = "PORT")]
    turn_udp_port: Vec<u16>,

    /// TCP port of the turn server in the URLs; repeatable. [default: 3478 and 80]
    #[arg(long, value_name = "PORT")]
    turn_tcp_port: Vec<u16>,

    /// TLS port of the turn server in the turns: URLs; repeatable. [default: 5349 and 443]
    #[arg(long, value_name = "PORT")]
    turn_tls_port: Vec<u16>,

    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives such as
    /// "info,sfu=debug".
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = match EnvFilter::try_new(&args.log) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("sfu: invalid --log value {:?}: {e}", args.log);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let mut config = Config { http_listen: args.http_listen, ..Config::default() };
    if !args.udp_listen.is_empty() {
        config.udp_listen = args.udp_listen;
        config.skip_unavailable_ipv6 = false;
    }
    config.announce_ips = args.announce_ip;
    config.app_id = args.app_id;
    let secret = args.app_secret.or_else(|| std::env::var("SFU_APP_SECRET").ok());
    if let Some(secret) = secret {
        config.app_secret = secret;
        config.app_secret_generated = false;
    }
    if let Some(workers) = args.workers {
        config.workers = usize::from(workers);
    }
    config.demo = args.demo;
    let turn_secret = args.turn_key_secret.or_else(|| std::env::var("SFU_TURN_KEY_SECRET").ok());
    if let Some(secret) = turn_secret {
        let mut key = TurnKey::new(secret);
        key.key_id = args.turn_key_id;
        key.host = args.turn_host;
        // Ports given for any transport replace the defaults of that transport only.
        for (given, ports) in [
            (args.turn_udp_port, &mut key.udp_ports),
            (args.turn_tcp_port, &mut key.tcp_ports),
            (args.turn_tls_port, &mut key.tls_ports),
        ] {
            if !given.is_empty() {
                *ports = given;
            }
        }
        config.turn = Some(key);
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sfu-http")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    let app_id = config.app_id.clone();
    let turn_key = config.turn.as_ref().map(|key| key.key_id.clone());
    let generated_secret = config.app_secret_generated.then(|| config.app_secret.clone());
    let demo = config.demo;
    let running = match sfu::api::serve(config).await {
        Ok(running) => running,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let udp: Vec<String> = running.udp_addrs.iter().map(ToString::to_string).collect();
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening http={} udp={}", running.http_addr, udp.join(","));
    let _ = stdout.flush();
    drop(stdout);
    match demo {
        DemoAccess::Loopback => {
            info!("demo page: http://{}/ (for browsers on this machine)", running.http_addr)
        }
        DemoAccess::Public => warn!(
            "demo page: http://{}/ with --demo public: anyone who loads it can use the API",
            running.http_addr
        ),
        DemoAccess::Off => info!("demo page off (--demo off)"),
    }
    info!("API base: {}", running.api_base());
    info!("media on UDP {}", udp.join(" and "));
    match generated_secret {
        // The one line that shows a secret: it was made up here, and the operator needs it.
        Some(secret) => info!("app id {app_id:?}, generated app secret {secret}"),
        None => info!("app id {app_id:?}, app secret as given"),
    }

    match turn_key {
        Some(id) => {
            info!("TURN credentials: POST /v1/turn/keys/{id}/credentials/generate-ice-servers")
        }
        None => info!("no --turn-key-secret: the TURN credential routes are off"),
    }

    wait_for_signal().await;
    info!("shutting down");
    running.shutdown().await;
    ExitCode::SUCCESS
}

fn parse_demo(value: &str) -> Result<DemoAccess, String> {
    value.parse()
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
