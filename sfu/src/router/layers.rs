//! Simulcast: which layer of a published track each subscriber stream carries.
//!
//! A publisher sending simulcast (RFC 8853) sends one RTP stream per rid under one mid;
//! the router keeps each as its own stream (layer `i` is the publisher's `i`th rid, in the
//! order of its `a=simulcast:send` list) and sends each subscriber one of them, chosen by
//! [`choose_layer`] from the subscriber's [`SimulcastPreference`] (Cloudflare's
//! `simulcast` object on a pulled track) and from which layers the publisher is sending
//! now. A switch waits for a keyframe of the new layer (requested when the switch is
//! decided), so the subscriber's decoder never gets a delta frame of a stream it has not
//! started; the stream's sequence numbers and timestamps run on across it.
//!
//! With `priorityOrdering: "asciibetical"`, the subscriber's receiver reports steer the
//! choice too ([`LossSteering`]): loss above 10% in two reports in a row moves the stream
//! one rid down in a-z order (toward the least desirable), and 10 s with loss under 2%
//! moves it one step back up, never above the preferred rid.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// What to do when a wanted rid is not there: Cloudflare's `"none"` or `"asciibetical"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RidOrdering {
    /// Do nothing: keep to the rid chosen.
    #[default]
    None,
    /// Rids rank in a-z order, `a` the most desirable: fall back to the next one.
    Asciibetical,
}

impl RidOrdering {
    fn parse(value: &str) -> Option<RidOrdering> {
        match value {
            "none" => Some(RidOrdering::None),
            "asciibetical" => Some(RidOrdering::Asciibetical),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RidOrdering::None => "none",
            RidOrdering::Asciibetical => "asciibetical",
        }
    }
}

/// A subscriber's `simulcast` object: `{preferredRid?, priorityOrdering?, ridNotAvailable?}`,
/// or the older `{preferredRid?, fallbackStrategy?}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulcastPreference {
    /// The rid to send when the publisher sends it. Without one, the first rid of the
    /// publisher's list that it is sending.
    pub preferred_rid: Option<String>,
    /// `priorityOrdering`: what to do when the subscriber's network cannot carry the
    /// preferred rid: `"none"` keeps sending it, `"asciibetical"` steps down in a-z order
    /// while the subscriber reports heavy loss (see [`LossSteering`]).
    pub priority_ordering: RidOrdering,
    /// `ridNotAvailable` (or the older `fallbackStrategy`): what to do when the publisher
    /// stops sending the preferred rid.
    pub rid_not_available: RidOrdering,
}

impl SimulcastPreference {
    /// Reads a `simulcast` value of a track object; `Ok(None)` when absent or null, `Err`
    /// with a message for the API's 400 otherwise. `fallbackStrategy` is the older name of
    /// `ridNotAvailable`: `"none"` keeps to the rid, any other value falls back as
    /// `"asciibetical"` does.
    pub fn from_json(value: Option<&Value>) -> Result<Option<SimulcastPreference>, String> {
        let object: &Map<String, Value> = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(o)) => o,
            Some(_) => return Err("simulcast must be an object".to_owned()),
        };
        let text = |key: &str| -> Result<Option<&str>, String> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(format!("simulcast.{key} must be a string")),
            }
        };
        let ordering = |key: &str| -> Result<Option<RidOrdering>, String> {
            match text(key)? {
                None => Ok(None),
                Some(v) => RidOrdering::parse(v).map(Some).ok_or_else(|| {
                    format!("simulcast.{key} must be \"none\" or \"asciibetical\", not {v:?}")
                }),
            }
        };
        let preferred_rid = text("preferredRid")?.map(str::to_owned);
        if let Some(rid) = &preferred_rid {
            // RFC 8851 §10: a rid-id is alphanumeric (with `-` and `_`), at most 255 long.
            let valid = !rid.is_empty()
                && rid.len() <= 255
                && rid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(format!("simulcast.preferredRid {rid:?} is not a rid"));
            }
        }
        let priority_ordering = ordering("priorityOrdering")?.unwrap_or_default();
        let fallback = text("fallbackStrategy")?.map(|v| {
            if v == "none" {
                RidOrdering::None
            } else {
                RidOrdering::Asciibetical
            }
        });
        let rid_not_available = ordering("ridNotAvailable")?.or(fallback).unwrap_or_default();
        Ok(Some(SimulcastPreference { preferred_rid, priority_ordering, rid_not_available }))
    }

    /// The object as the API shows it.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        if let Some(rid) = &self.preferred_rid {
            object.insert("preferredRid".into(), Value::String(rid.clone()));
        }
        object.insert("priorityOrdering".into(), self.priority_ordering.as_str().into());
        object.insert("ridNotAvailable".into(), self.rid_not_available.as_str().into());
        Value::Object(object)
    }
}

/// The layer a subscriber stream should carry. `rids` are the publisher's rids (layer `i`
/// is `rids[i]`; empty without simulcast), `active(i)` whether the publisher is sending
/// layer `i` now.
///
/// - Without simulcast: layer 0.
/// - The preferred rid when the publisher sends it.
/// - Without a preferred rid (or one the publisher does not have): the first rid in the
///   publisher's order that it sends, else the first.
/// - A preferred rid the publisher stopped (or has not started) sending: with
///   `ridNotAvailable: "none"`, the preferred one still (nothing is sent until it comes
///   back); with `"asciibetical"`, the next rid it sends in a-z order after the preferred
///   one, else the nearest before it, else the preferred one.
///
/// `steps_down` (from [`LossSteering`]) moves the preferred rid that many places later in
/// a-z order first, when `priorityOrdering` is `"asciibetical"`.
pub fn choose_layer(
    preference: Option<&SimulcastPreference>,
    rids: &[String],
    steps_down: usize,
    active: impl Fn(usize) -> bool,
) -> u8 {
    let layer = |i: usize| u8::try_from(i).unwrap_or(0);
    if rids.len() <= 1 {
        return 0;
    }
    let preferred = preference
        .and_then(|p| p.preferred_rid.as_deref())
        .and_then(|rid| rids.iter().position(|r| r == rid));
    let steered = preference.is_some_and(|p| p.priority_ordering == RidOrdering::Asciibetical);
    let preferred = match (preferred, steered && steps_down > 0) {
        (Some(p), true) => Some(step_down(rids, p, steps_down)),
        (None, true) => {
            let first = (0..rids.len()).find(|&i| active(i)).unwrap_or(0);
            Some(step_down(rids, first, steps_down))
        }
        (p, false) => p,
    };
    let Some(preferred) = preferred else {
        return layer((0..rids.len()).find(|&i| active(i)).unwrap_or(0));
    };
    if active(preferred) {
        return layer(preferred);
    }
    let fallback = preference.map(|p| p.rid_not_available).unwrap_or_default();
    if fallback == RidOrdering::None {
        return layer(preferred);
    }
    let wanted = &rids[preferred];
    let candidates = (0..rids.len()).filter(|&i| active(i));
    let after =
        candidates.clone().filter(|&i| rids[i] > *wanted).min_by(|&a, &b| rids[a].cmp(&rids[b]));
    let before = candidates.filter(|&i| rids[i] < *wanted).max_by(|&a, &b| rids[a].cmp(&rids[b]));
    layer(after.or(before).unwrap_or(preferred))
}

/// The rid `steps` places after `rids[from]` in a-z order (the last one at most).
fn step_down(rids: &[String], from: usize, steps: usize) -> usize {
    let mut order: Vec<usize> = (0..rids.len()).collect();
    order.sort_by(|&a, &b| rids[a].cmp(&rids[b]));
    let at = order.iter().position(|&i| i == from).unwrap_or(0);
    order[(at + steps).min(order.len() - 1)]
}

/// Loss above this fraction (of 256, RFC 3550 §6.4.1) in a receiver report is heavy: 10%.
const HEAVY_LOSS: u8 = 26;
/// Reports in a row with heavy loss before a step down.
const HEAVY_REPORTS: u8 = 2;
/// Loss under this fraction is light: 2%.
const LIGHT_LOSS: u8 = 5;
/// Light loss for this long before a step back up.
const RECOVERY: Duration = Duration::from_secs(10);

/// How far below the preferred rid a subscriber's loss has pushed its stream (see the
/// module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LossSteering {
    /// Places below the preferred rid in a-z order.
    pub steps_down: usize,
    heavy_reports: u8,
    light_since: Option<Instant>,
}

impl LossSteering {
    /// A receiver report's `fraction_lost` for the stream at `now`, with `layers` the
    /// number of layers; whether `steps_down` changed.
    pub fn on_report(&mut self, now: Instant, fraction_lost: u8, layers: usize) -> bool {
        if fraction_lost > HEAVY_LOSS {
            self.light_since = None;
            self.heavy_reports = self.heavy_reports.saturating_add(1);
            if self.heavy_reports >= HEAVY_REPORTS && self.steps_down + 1 < layers {
                self.heavy_reports = 0;
                self.steps_down += 1;
                return true;
            }
            return false;
        }
        self.heavy_reports = 0;
        if fraction_lost >= LIGHT_LOSS {
            self.light_since = None;
            return false;
        }
        let since = *self.light_since.get_or_insert(now);
        if self.steps_down > 0 && now.saturating_duration_since(since) >= RECOVERY {
            self.steps_down -= 1;
            self.light_since = Some(now);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rids(list: &[&str]) -> Vec<String> {
        list.iter().map(|r| (*r).to_owned()).collect()
    }

    fn prefer(rid: &str, fallback: RidOrdering) -> SimulcastPreference {
        SimulcastPreference {
            preferred_rid: Some(rid.to_owned()),
            priority_ordering: RidOrdering::None,
            rid_not_available: fallback,
        }
    }

    #[test]
    fn without_simulcast_the_only_layer() {
        assert_eq!(choose_layer(None, &[], 0, |_| false), 0);
        assert_eq!(
            choose_layer(Some(&prefer("h", RidOrdering::None)), &rids(&["f"]), 0, |_| true),
            0
        );
    }

    #[test]
    fn the_preferred_rid_when_sent() {
        let r = rids(&["q", "h", "f"]);
        assert_eq!(choose_layer(Some(&prefer("h", RidOrdering::None)), &r, 0, |_| true), 1);
        assert_eq!(choose_layer(Some(&prefer("f", RidOrdering::Asciibetical)), &r, 0, |_| true), 2);
    }

    #[test]
    fn no_preference_takes_the_first_sent_in_the_publishers_order() {
        let r = rids(&["q", "h", "f"]);
        assert_eq!(choose_layer(None, &r, 0, |_| true), 0);
        assert_eq!(choose_layer(None, &r, 0, |i| i > 0), 1);
        assert_eq!(choose_layer(None, &r, 0, |_| false), 0);
        // A rid the publisher does not have counts as no preference.
        assert_eq!(choose_layer(Some(&prefer("x", RidOrdering::None)), &r, 0, |i| i == 2), 2);
    }

    #[test]
    fn a_missing_rid_is_kept_with_none() {
        let r = rids(&["q", "h", "f"]);
        assert_eq!(choose_layer(Some(&prefer("h", RidOrdering::None)), &r, 0, |i| i != 1), 1);
    }

    #[test]
    fn a_missing_rid_falls_back_in_asciibetical_order() {
        let r = rids(&["q", "h", "f"]);
        let p = prefer("h", RidOrdering::Asciibetical);
        // After "h" in a-z order comes "q" (layer 0).
        assert_eq!(choose_layer(Some(&p), &r, 0, |i| i != 1), 0);
        // Nothing after it is sent: the nearest before it, "f" (layer 2).
        assert_eq!(choose_layer(Some(&p), &r, 0, |i| i == 2), 2);
        // Nothing sent at all: keep to the preferred one.
        assert_eq!(choose_layer(Some(&p), &r, 0, |_| false), 1);
        let r = rids(&["a", "b", "c", "d"]);
        let p = prefer("b", RidOrdering::Asciibetical);
        assert_eq!(choose_layer(Some(&p), &r, 0, |i| i == 0 || i == 3), 3);
        assert_eq!(choose_layer(Some(&p), &r, 0, |i| i == 0 || i >= 2), 2);
    }

    #[test]
    fn loss_steps_down_in_asciibetical_order_and_back_up() {
        let r = rids(&["a", "b", "c"]);
        let mut p = prefer("a", RidOrdering::None);
        p.priority_ordering = RidOrdering::Asciibetical;
        let t0 = Instant::now();
        let mut steering = LossSteering::default();
        assert!(!steering.on_report(t0, 60, 3), "one report is not enough");
        assert!(steering.on_report(t0 + Duration::from_secs(1), 60, 3));
        assert_eq!(choose_layer(Some(&p), &r, steering.steps_down, |_| true), 1);
        // Medium loss holds; more heavy loss goes down to the last, never past it.
        assert!(!steering.on_report(t0 + Duration::from_secs(2), 10, 3));
        steering.on_report(t0 + Duration::from_secs(3), 200, 3);
        assert!(steering.on_report(t0 + Duration::from_secs(4), 200, 3));
        steering.on_report(t0 + Duration::from_secs(5), 200, 3);
        assert!(!steering.on_report(t0 + Duration::from_secs(6), 200, 3));
        assert_eq!(choose_layer(Some(&p), &r, steering.steps_down, |_| true), 2);
        // 10 s of light loss: one step up at a time.
        let mut t = t0 + Duration::from_secs(7);
        let mut ups = Vec::new();
        for _ in 0..25 {
            if steering.on_report(t, 1, 3) {
                ups.push(steering.steps_down);
            }
            t += Duration::from_secs(1);
        }
        assert_eq!(ups, vec![1, 0]);
        // "none" keeps the preferred rid whatever the loss.
        let none = prefer("a", RidOrdering::None);
        assert_eq!(choose_layer(Some(&none), &r, 2, |_| true), 0);
        // Without a preferred rid, steps count from the first rid sent.
        let open = SimulcastPreference {
            priority_ordering: RidOrdering::Asciibetical,
            ..SimulcastPreference::default()
        };
        assert_eq!(choose_layer(Some(&open), &rids(&["q", "h", "f"]), 1, |_| true), 0);
    }

    #[test]
    fn preferences_parse_and_refuse_bad_values() {
        assert_eq!(SimulcastPreference::from_json(None), Ok(None));
        assert_eq!(SimulcastPreference::from_json(Some(&Value::Null)), Ok(None));
        let p = SimulcastPreference::from_json(Some(&json!({
            "preferredRid": "h", "priorityOrdering": "asciibetical", "ridNotAvailable": "none"
        })))
        .unwrap()
        .unwrap();
        assert_eq!(p.preferred_rid.as_deref(), Some("h"));
        assert_eq!(p.priority_ordering, RidOrdering::Asciibetical);
        assert_eq!(p.rid_not_available, RidOrdering::None);
        assert_eq!(p.to_json()["preferredRid"], "h");
        let old = SimulcastPreference::from_json(Some(&json!({
            "preferredRid": "f", "fallbackStrategy": "simulcastLayerBelow"
        })))
        .unwrap()
        .unwrap();
        assert_eq!(old.rid_not_available, RidOrdering::Asciibetical);
        for bad in [
            json!("h"),
            json!({"preferredRid": 3}),
            json!({"preferredRid": "a b"}),
            json!({"preferredRid": ""}),
            json!({"priorityOrdering": "random"}),
            json!({"ridNotAvailable": true}),
        ] {
            assert!(SimulcastPreference::from_json(Some(&bad)).is_err(), "{bad}");
        }
    }
}
