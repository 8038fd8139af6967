//! The `turn` binary: a TURN server (RFC 8656) on UDP, TCP and TLS.
//!
//! With no flags it listens on loopback on the six ports of the public TURN services (UDP
//! 3478 and 53, TCP 3478 and 80, TLS 5349 and 443), relays from 127.0.0.1, makes a
//! self-signed certificate for TLS, and, with no user or secret given, a random TURN REST
//! shared secret that it prints once. A default port that cannot be bound (53, 80 and 443
//! need privileges) is skipped with a warning; a port given with a flag that cannot be bound
//! stops the server. The first line on stdout is machine-readable:
//! `listening udp=ADDR[,ADDR] tcp=ADDR[,ADDR] tls=ADDR[,ADDR]`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rand::Rng;
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use turn::driver::{self, tls, DriverLimits, Listeners};
use turn::{AuthConfig, Cidr, PeerPolicy, RelayIp, ServerConfig};

/// The loopback address the defaults use.
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// TURN server (RFC 8656) relaying UDP for clients on UDP, TCP and TLS, and TCP (RFC 6062)
/// for clients on TCP and TLS.
///
/// With no listen flag it listens on 127.0.0.1 on UDP 3478 and 53, TCP 3478 and 80, and TLS
/// 5349 and 443 (ports it cannot bind are skipped with a warning). Once any listen flag is
/// given, only the listeners named are opened, and each must bind.
///
/// Credentials: static users (--user) and TURN REST credentials checked with a shared
/// secret (--auth-secret, the one the sfu mints credentials with: username
/// "<expiry unix time>:<user>", password base64(HMAC-SHA1(secret, username))). With neither,
/// a random secret is generated and printed once at start.
///
/// Peers on loopback, private, shared (CGNAT), link-local, multicast, reserved and
/// documentation addresses are refused (403) unless --allow-loopback-peers or --allow-peer
/// opens them.
#[derive(Debug, Parser)]
#[command(name = "turn", version)]
struct Args {
    /// UDP listener; repeatable. On a wildcard address (0.0.0.0, [::], IPv6-only) it answers
    /// each client from the address the client sent to. [default: 127.0.0.1:3478 and
    /// 127.0.0.1:53]
    #[arg(long, value_name = "ADDR:PORT")]
    udp_listen: Vec<SocketAddr>,

    /// TCP listener; repeatable. [default: 127.0.0.1:3478 and 127.0.0.1:80]
    #[arg(long, value_name = "ADDR:PORT")]
    tcp_listen: Vec<SocketAddr>,

    /// TLS listener (TLS 1.2 and 1.3 over TCP); repeatable.
    /// [default: 127.0.0.1:5349 and 127.0.0.1:443]
    #[arg(long, value_name = "ADDR:PORT")]
    tls_listen: Vec<SocketAddr>,

    /// PEM certificate chain (leaf first) for the TLS listeners. Without --cert and --key a
    /// self-signed certificate is generated at start, which clients reject unless told to
    /// trust it.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,

    /// PEM private key of --cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,

    /// REALM of the long-term credentials.
    #[arg(long, value_name = "REALM", default_value = "turn")]
    realm: String,

    /// A static user, NAME:PASSWORD; repeatable.
    #[arg(long, value_name = "NAME:PASS")]
    user: Vec<String>,

    /// Shared secret of TURN REST credentials (the sfu's --turn-key-secret). Also read from
    /// the environment variable TURN_AUTH_SECRET. [default: random, printed at start, when
    /// no --user is given either]
    #[arg(long, value_name = "SECRET")]
    auth_secret: Option<String>,

    /// Address relay sockets bind and advertise (XOR-RELAYED-ADDRESS); at most one per
    /// address family. [default: the first listener address of each family, 127.0.0.1 with
    /// the default listeners]
    #[arg(long, value_name = "IP")]
    relay_ip: Vec<IpAddr>,

    /// Lowest relay port.
    #[arg(long, value_name = "PORT", default_value_t = 49_152)]
    min_port: u16,

    /// Highest relay port.
    #[arg(long, value_name = "PORT", default_value_t = 65_535)]
    max_port: u16,

    /// Allow peers on loopback (127.0.0.0/8, ::1): for tests and single-host setups only.
    #[arg(long)]
    allow_loopback_peers: bool,

    /// Allow peers in this range although the default policy refuses it (a private network
    /// the relay is meant to reach), e.g. 10.1.0.0/16; repeatable.
    #[arg(long, value_name = "CIDR")]
    allow_peer: Vec<Cidr>,

    /// Run turn's threads under SCHED_BATCH: a thread woken by a datagram waits for the
    /// running thread's time slice instead of preempting it, then relays what arrived as one
    /// batch. Raises throughput where turn shares cores with other work, at the cost of up
    /// to a time slice of latency there; no effect on idle cores.
    #[arg(long)]
    batch_scheduling: bool,

    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives such as
    /// "info,turn=debug".
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log: String,
}

/// The six default listeners.
fn default_listeners() -> (Vec<SocketAddr>, Vec<SocketAddr>, Vec<SocketAddr>) {
    let at = |port| SocketAddr::new(LOOPBACK, port);
    (vec![at(3478), at(53)], vec![at(3478), at(80)], vec![at(5349), at(443)])
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = match EnvFilter::try_new(&args.log) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("turn: invalid --log value {:?}: {e}", args.log);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let batch_scheduling = args.batch_scheduling;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("turn")
        .on_thread_start(move || {
            if batch_scheduling {
                if let Err(e) = turn::driver::sys::set_batch_scheduling() {
                    warn!(error = %e, "cannot set SCHED_BATCH on a runtime thread");
                }
            }
        })
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            eprintln!("turn: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Binds every listener of one kind: with `explicit`, a failure is fatal; otherwise it is
/// a warning and the others go on.
fn bind_all<T>(
    kind: &str,
    addrs: &[SocketAddr],
    explicit: bool,
    bind: impl Fn(SocketAddr) -> std::io::Result<T>,
) -> Result<Vec<T>, String> {
    let mut bound = Vec::new();
    for &addr in addrs {
        match bind(addr) {
            Ok(socket) => bound.push(socket),
            Err(e) if explicit => {
                return Err(format!(
                    "cannot listen on {kind} {addr}: {e} (ports below 1024 need root or \
                     CAP_NET_BIND_SERVICE; a busy port needs another --{kind}-listen)"
                ));
            }
            Err(e) if addr.port() < 1024 && e.kind() == std::io::ErrorKind::PermissionDenied => {
                warn!(
                    "default {kind} listener {addr} skipped: {e} (ports below 1024 need root or \
                     CAP_NET_BIND_SERVICE)"
                );
            }
            Err(e) => warn!("default {kind} listener {addr} skipped: {e}"),
        }
    }
    Ok(bound)
}

async fn run(args: Args) -> Result<(), String> {
    let explicit =
        !args.udp_listen.is_empty() || !args.tcp_listen.is_empty() || !args.tls_listen.is_empty();
    let (udp_addrs, tcp_addrs, tls_addrs) = if explicit {
        (args.udp_listen, args.tcp_listen, args.tls_listen)
    } else {
        default_listeners()
    };

    // Relay addresses: as given, or the first listener's.
    let mut relay_ipv4 = None;
    let mut relay_ipv6 = None;
    for ip in &args.relay_ip {
        let slot = if ip.is_ipv4() { &mut relay_ipv4 } else { &mut relay_ipv6 };
        if slot.replace(RelayIp::new(*ip)).is_some() {
            return Err("--relay-ip: give at most one IPv4 and one IPv6 address".into());
        }
        if ip.is_unspecified() {
            return Err(format!("--relay-ip {ip}: give the address peers reach, not {ip}"));
        }
    }
    if relay_ipv4.is_none() && relay_ipv6.is_none() {
        // One relay address per family: the first concrete listener address of the family.
        let listeners: Vec<IpAddr> =
            udp_addrs.iter().chain(&tcp_addrs).chain(&tls_addrs).map(SocketAddr::ip).collect();
        let first = |v4: bool| {
            listeners.iter().copied().find(|ip| ip.is_ipv4() == v4 && !ip.is_unspecified())
        };
        relay_ipv4 = first(true).map(RelayIp::new);
        relay_ipv6 = first(false).map(RelayIp::new);
        if relay_ipv4.is_none() && relay_ipv6.is_none() {
            return Err("listening on a wildcard address: give the address peers reach the \
                        relay on with --relay-ip"
                .into());
        }
    }

    // Credentials.
    let mut auth = AuthConfig::default();
    for user in &args.user {
        let Some((name, password)) = user.split_once(':') else {
            return Err(format!("--user takes NAME:PASSWORD, got {:?}", user.split(':').next()));
        };
        if name.is_empty() || password.is_empty() {
            return Err("--user: name and password must not be empty".into());
        }
        auth = auth.with_user(name, password);
    }
    let secret = args.auth_secret.or_else(|| std::env::var("TURN_AUTH_SECRET").ok());
    let mut generated_secret = None;
    match secret {
        Some(secret) if secret.is_empty() => return Err("--auth-secret must not be empty".into()),
        Some(secret) => auth = auth.with_rest_secret(secret),
        None if args.user.is_empty() => {
            let secret: String = (0..32)
                .map(|_| char::from_digit(rand::thread_rng().gen_range(0..16), 16).unwrap_or('0'))
                .collect();
            auth = auth.with_rest_secret(secret.clone());
            generated_secret = Some(secret);
        }
        None => {}
    }

    let mut config = ServerConfig::new(args.realm);
    config.auth = auth;
    config.relay_ipv4 = relay_ipv4;
    config.relay_ipv6 = relay_ipv6;
    config.min_port = args.min_port;
    config.max_port = args.max_port;
    config.peer_policy = PeerPolicy {
        allow_loopback_peers: args.allow_loopback_peers,
        allow_peers: args.allow_peer,
    };
    config.validate().map_err(|e| e.to_string())?;

    let listeners = Listeners {
        udp: bind_all("udp", &udp_addrs, explicit, driver::bind_udp)?,
        tcp: bind_all("tcp", &tcp_addrs, explicit, driver::bind_tcp)?,
        tls: bind_all("tls", &tls_addrs, explicit, driver::bind_tcp)?,
    };
    if listeners.udp.is_empty() && listeners.tcp.is_empty() && listeners.tls.is_empty() {
        return Err("no listener could be bound".into());
    }

    let tls_config = if listeners.tls.is_empty() {
        None
    } else {
        let key = match (&args.cert, &args.key) {
            (Some(cert), Some(key)) => tls::load_pem(cert, key).map_err(|e| e.to_string())?,
            _ => {
                let mut names = vec!["localhost".to_owned()];
                names.extend(relay_ipv4.iter().chain(&relay_ipv6).map(|r| r.public.to_string()));
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                warn!(
                    "NO CERTIFICATE GIVEN: the TLS listeners use a SELF-SIGNED certificate \
                     generated now for {names:?}. Clients and browsers reject it unless told to \
                     trust it; pass --cert and --key for real use."
                );
                tls::self_signed(&names).map_err(|e| e.to_string())?
            }
        };
        Some(tls::server_config(key).map_err(|e| e.to_string())?)
    };

    let running = driver::start(config, listeners, tls_config, DriverLimits::default())
        .map_err(|e| e.to_string())?;
    let list = |addrs: &[SocketAddr]| addrs.iter().map(ToString::to_string).collect::<Vec<_>>();
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "listening udp={} tcp={} tls={}",
        list(&running.udp_addrs).join(","),
        list(&running.tcp_addrs).join(","),
        list(&running.tls_addrs).join(",")
    );
    let _ = stdout.flush();
    drop(stdout);
    info!(
        "TURN on udp {:?}, tcp {:?}, tls {:?}; relaying from {}",
        list(&running.udp_addrs),
        list(&running.tcp_addrs),
        list(&running.tls_addrs),
        relay_ipv4
            .iter()
            .chain(&relay_ipv6)
            .map(|r| r.public.to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    if !args.allow_loopback_peers {
        info!("peers on loopback are refused (403); --allow-loopback-peers allows them");
    }
    if let Some(secret) = generated_secret {
        // The one line that shows a secret: it was made up here, and the operator needs it
        // to mint credentials (the sfu's --turn-key-secret).
        info!("no --user or --auth-secret given: generated TURN REST shared secret {secret}");
    }

    wait_for_signal().await;
    info!("shutting down");
    running.shutdown();
    Ok(())
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
