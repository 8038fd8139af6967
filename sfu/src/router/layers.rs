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
    /// preferred rid. Kept and echoed; layers are not switched for bandwidth (the router
    /// does not estimate the subscriber's bandwidth).
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
pub fn choose_layer(
    preference: Option<&SimulcastPreference>,
    rids: &[String],
    active: impl Fn(usize) -> bool,
) -> u8 {
    let layer = |i: usize| u8::try_from(i).unwrap_or(0);
    if rids.len() <= 1 {
        return 0;
    }
    let preferred = preference
        .and_then(|p| p.preferred_rid.as_deref())
        .and_then(|rid| rids.iter().position(|r| r == rid));
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
        assert_eq!(choose_layer(None, &[], |_| false), 0);
        assert_eq!(choose_layer(Some(&prefer("h", RidOrdering::None)), &rids(&["f"]), |_| true), 0);
    }

    #[test]
    fn the_preferred_rid_when_sent() {
        let r = rids(&["q", "h", "f"]);
        assert_eq!(choose_layer(Some(&prefer("h", RidOrdering::None)), &r, |_| true), 1);
        assert_eq!(choose_layer(Some(&prefer("f", RidOrdering::Asciibetical)), &r, |_| true), 2);
    }

    #[test]
    fn no_preference_takes_the_first_sent_in_the_publishers_order() {
        let r = rids(&["q", "h", "f"]);
        assert_eq!(choose_layer(None, &r, |_| true), 0);
        assert_eq!(choose_layer(None, &r, |i| i > 0), 1);
        assert_eq!(choose_layer(None, &r, |_| false), 0);
        // A rid the publisher does not have counts as no preference.
        assert_eq!(choose_layer(Some(&prefer("x", RidOrdering::None)), &r, |i| i == 2), 2);
    }

    #[test]
    fn a_missing_rid_is_kept_with_none() {
        let r = rids(&["q", "h", "f"]);
        assert_eq!(choose_layer(Some(&prefer("h", RidOrdering::None)), &r, |i| i != 1), 1);
    }

    #[test]
    fn a_missing_rid_falls_back_in_asciibetical_order() {
        let r = rids(&["q", "h", "f"]);
        let p = prefer("h", RidOrdering::Asciibetical);
        // After "h" in a-z order comes "q" (layer 0).
        assert_eq!(choose_layer(Some(&p), &r, |i| i != 1), 0);
        // Nothing after it is sent: the nearest before it, "f" (layer 2).
        assert_eq!(choose_layer(Some(&p), &r, |i| i == 2), 2);
        // Nothing sent at all: keep to the preferred one.
        assert_eq!(choose_layer(Some(&p), &r, |_| false), 1);
        let r = rids(&["a", "b", "c", "d"]);
        let p = prefer("b", RidOrdering::Asciibetical);
        assert_eq!(choose_layer(Some(&p), &r, |i| i == 0 || i == 3), 3);
        assert_eq!(choose_layer(Some(&p), &r, |i| i == 0 || i >= 2), 2);
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
