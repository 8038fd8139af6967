//! Withdraws published tracks that received no media for
//! [`SessionTimers::track_idle_timeout`](crate::config::SessionTimers::track_idle_timeout)
//! (30 s by default, as Cloudflare does).
//!
//! The workers report which tracks had media a few times per timeout
//! ([`Directory::note_media`](crate::directory::Directory::note_media)); this task looks at
//! the directory three times per timeout and withdraws every silent track the way
//! `tracks/close` with `force: true` does: out of the directory (its subscribers' mids go
//! quiet and show it `inactive`) and out of its publisher's negotiation, so the name can be
//! published again. A publisher in the middle of a negotiation is left for the next round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, info};

use super::ApiState;
use crate::directory::{SessionId, TrackId};

/// Runs until `stop` says so.
pub(super) async fn run(state: Arc<ApiState>, mut stop: watch::Receiver<bool>) {
    let idle = state.config.timers.track_idle_timeout;
    let period = (idle / 3).clamp(Duration::from_millis(10), Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(period) => {}
        }
        if *stop.borrow() {
            break;
        }
        let silent = state.directory.silent_tracks(Instant::now(), idle);
        for (publisher, track) in silent {
            collect(&state, publisher, track, idle);
        }
    }
}

/// Withdraws one silent track, unless its publisher is negotiating right now.
fn collect(state: &ApiState, publisher: SessionId, track: TrackId, idle: Duration) {
    let Some(negotiation) = state.directory.negotiation(publisher) else {
        return;
    };
    let Ok(mut negotiation) = negotiation.try_lock_owned() else {
        debug!(%publisher, "idle track left for the next round: negotiation in progress");
        return;
    };
    let mut name = None;
    for t in negotiation.transceivers().to_vec() {
        if t.published.as_ref().is_some_and(|p| p.id == track) {
            if let Some(t) = negotiation.transceiver_mut(&t.mid) {
                name = t.published.take().map(|p| p.name);
            }
        }
    }
    // A push offered by the SFU and not answered yet holds its track in the pending offer.
    let pending = negotiation.pending().is_some_and(|p| {
        p.added.iter().any(|t| t.published.as_ref().is_some_and(|p| p.id == track))
    });
    if pending {
        return;
    }
    if state.directory.unpublish(publisher, track) {
        let _ = state.directory.set_media(publisher, negotiation.media());
        state.notifier.routes_changed();
        info!(%publisher, track = name.as_deref().unwrap_or("?"), idle_secs = idle.as_secs(), "track withdrawn: no media");
    }
}
