//! H.264 `profile-level-id` (RFC 6184 §8.1): which profile a payload type carries, and
//! the level to answer with (RFC 6184 §8.2.2).
//!
//! The three bytes are `profile_idc`, `profile-iop` (the constraint flags) and `level_idc`.
//! Two payload types describe the same codec when their profiles are equal; the level only
//! bounds what a receiver can decode.

use std::cmp::Ordering;
use std::fmt;

/// H.264 profiles WebRTC negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum H264Profile {
    /// Constrained Baseline (`42e0`, `4d80`, `58c0`, ...).
    ConstrainedBaseline,
    /// Baseline (`4200`, `5880`, ...).
    Baseline,
    /// Main (`4d00`).
    Main,
    /// Constrained High (`640c`).
    ConstrainedHigh,
    /// High (`6400`).
    High,
    /// Predictive High 4:4:4 (`f400`).
    PredictiveHigh444,
}

/// `level_idc`, where level 1b is its own value (it is coded as `level_idc` 11 with
/// constraint_set3_flag, H.264 Annex A.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum H264Level {
    /// Level 1b.
    Level1b,
    /// Any other level, as `level_idc` (10 = 1.0, 31 = 3.1, 52 = 5.2).
    Idc(u8),
}

impl PartialOrd for H264Level {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for H264Level {
    /// Level 1b lies between 1 and 1.1.
    fn cmp(&self, other: &Self) -> Ordering {
        fn rank(level: &H264Level) -> u16 {
            match level {
                // 10 * 10 + 5: after level 1 (100), before level 1.1 (110).
                H264Level::Level1b => 105,
                H264Level::Idc(idc) => u16::from(*idc) * 10,
            }
        }
        rank(self).cmp(&rank(other))
    }
}

/// A parsed `profile-level-id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct H264ProfileLevelId {
    /// Profile.
    pub profile: H264Profile,
    /// Level.
    pub level: H264Level,
}

/// H.264 constraint_set3_flag within profile-iop.
const CONSTRAINT_SET3: u8 = 0x10;

/// `(profile_idc, profile-iop pattern, profile)`: a pattern is 8 characters, most
/// significant bit first, `x` for "any". The table is the one of RFC 6184 §8.1 as
/// WebRTC implementations apply it.
const PROFILE_PATTERNS: &[(u8, &str, H264Profile)] = &[
    (0x42, "x1xx0000", H264Profile::ConstrainedBaseline),
    (0x4d, "1xxx0000", H264Profile::ConstrainedBaseline),
    (0x58, "11xx0000", H264Profile::ConstrainedBaseline),
    (0x42, "x0xx0000", H264Profile::Baseline),
    (0x58, "10xx0000", H264Profile::Baseline),
    (0x4d, "0x0x0000", H264Profile::Main),
    (0x64, "00000000", H264Profile::High),
    (0x64, "00001100", H264Profile::ConstrainedHigh),
    (0xf4, "00000000", H264Profile::PredictiveHigh444),
];

fn pattern_matches(pattern: &str, iop: u8) -> bool {
    pattern.bytes().enumerate().all(|(i, c)| {
        let bit = (iop >> (7 - i.min(7))) & 1;
        match c {
            b'1' => bit == 1,
            b'0' => bit == 0,
            _ => true,
        }
    })
}

const VALID_LEVELS: &[u8] = &[10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52];

impl H264ProfileLevelId {
    /// The value RFC 6184 §8.1 implies when `profile-level-id` is absent: Baseline, level 1.
    pub const DEFAULT: H264ProfileLevelId =
        H264ProfileLevelId { profile: H264Profile::Baseline, level: H264Level::Idc(10) };

    /// Parses six hex digits.
    pub fn parse(text: &str) -> Option<H264ProfileLevelId> {
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let value = u32::from_str_radix(text, 16).ok()?;
        let [_, profile_idc, profile_iop, level_idc] = value.to_be_bytes();
        let level = match level_idc {
            11 if profile_iop & CONSTRAINT_SET3 != 0 => H264Level::Level1b,
            idc if VALID_LEVELS.contains(&idc) => H264Level::Idc(idc),
            _ => return None,
        };
        let profile = PROFILE_PATTERNS
            .iter()
            .find(|(idc, pattern, _)| *idc == profile_idc && pattern_matches(pattern, profile_iop))
            .map(|(_, _, profile)| *profile)?;
        Some(H264ProfileLevelId { profile, level })
    }

    /// The profile-level-id of an fmtp parameter value, or the RFC 6184 default when absent.
    pub fn from_fmtp(value: Option<&str>) -> Option<H264ProfileLevelId> {
        match value {
            Some(v) => H264ProfileLevelId::parse(v),
            None => Some(H264ProfileLevelId::DEFAULT),
        }
    }

    /// The level to answer with (RFC 6184 §8.2.2): with level-asymmetry-allowed on both
    /// sides the answerer states what it can receive (`local`); otherwise the lower of both.
    /// The answer keeps the offered profile.
    pub fn answer(
        local: H264ProfileLevelId,
        remote: H264ProfileLevelId,
        level_asymmetry: bool,
    ) -> H264ProfileLevelId {
        let level = if level_asymmetry { local.level } else { local.level.min(remote.level) };
        H264ProfileLevelId { profile: remote.profile, level }
    }
}

impl fmt::Display for H264ProfileLevelId {
    /// Writes the canonical six hex digits for the profile and level.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.level == H264Level::Level1b {
            // Level 1b: level_idc 11 with constraint_set3_flag, only for the profiles that
            // have that flag free.
            let prefix = match self.profile {
                H264Profile::ConstrainedBaseline => "42f0",
                H264Profile::Baseline => "4210",
                H264Profile::Main => "4d10",
                // No 1b coding exists for the High profiles: write level 1.1 instead.
                H264Profile::ConstrainedHigh => "640c",
                H264Profile::High => "6400",
                H264Profile::PredictiveHigh444 => "f400",
            };
            return write!(f, "{prefix}0b");
        }
        let prefix = match self.profile {
            H264Profile::ConstrainedBaseline => "42e0",
            H264Profile::Baseline => "4200",
            H264Profile::Main => "4d00",
            H264Profile::ConstrainedHigh => "640c",
            H264Profile::High => "6400",
            H264Profile::PredictiveHigh444 => "f400",
        };
        let idc = match self.level {
            H264Level::Idc(idc) => idc,
            H264Level::Level1b => 11,
        };
        write!(f, "{prefix}{idc:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use H264Profile::*;

    fn parse(s: &str) -> H264ProfileLevelId {
        H264ProfileLevelId::parse(s).expect(s)
    }

    #[test]
    fn profiles_of_common_ids() {
        assert_eq!(
            parse("42e01f"),
            H264ProfileLevelId { profile: ConstrainedBaseline, level: H264Level::Idc(31) }
        );
        assert_eq!(parse("42001f").profile, Baseline);
        assert_eq!(parse("42c01f").profile, ConstrainedBaseline);
        assert_eq!(parse("4d001f").profile, Main);
        assert_eq!(parse("4d801f").profile, ConstrainedBaseline);
        assert_eq!(parse("58c01f").profile, ConstrainedBaseline);
        assert_eq!(parse("58801f").profile, Baseline);
        assert_eq!(parse("640c1f").profile, ConstrainedHigh);
        assert_eq!(parse("64001f").profile, High);
        assert_eq!(parse("f4001f").profile, PredictiveHigh444);
        assert_eq!(parse("640034").level, H264Level::Idc(52));
        assert_eq!(parse("42E01F"), parse("42e01f"));
    }

    #[test]
    fn level_1b() {
        assert_eq!(
            parse("42f00b"),
            H264ProfileLevelId { profile: ConstrainedBaseline, level: H264Level::Level1b }
        );
        assert_eq!(parse("42100b").level, H264Level::Level1b);
        assert_eq!(parse("42000b").level, H264Level::Idc(11));
        assert!(H264Level::Idc(10) < H264Level::Level1b);
        assert!(H264Level::Level1b < H264Level::Idc(11));
        assert_eq!(parse("42f00b").to_string(), "42f00b");
    }

    #[test]
    fn invalid_ids() {
        for bad in ["", "42e01", "42e01f0", "zzzzzz", "42e0ff", "6e001f", "640d1f", "42e01é"] {
            assert_eq!(H264ProfileLevelId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn canonical_strings() {
        for s in ["42e01f", "42001f", "4d001f", "640c1f", "64001f", "f4001f", "42e034"] {
            assert_eq!(parse(s).to_string(), s);
        }
    }

    #[test]
    fn answer_level_rfc_6184_8_2_2() {
        let local = parse("42e01f");
        let remote = parse("42e034");
        // Asymmetry allowed on both sides: the answerer states its own receive level.
        assert_eq!(H264ProfileLevelId::answer(local, remote, true).to_string(), "42e01f");
        // Otherwise the lower level.
        assert_eq!(H264ProfileLevelId::answer(local, remote, false).to_string(), "42e01f");
        assert_eq!(
            H264ProfileLevelId::answer(parse("42e034"), parse("42e00d"), false).to_string(),
            "42e00d"
        );
        assert_eq!(
            H264ProfileLevelId::answer(parse("42e034"), parse("42e00d"), true).to_string(),
            "42e034"
        );
    }

    #[test]
    fn default_is_baseline_level_1() {
        assert_eq!(H264ProfileLevelId::from_fmtp(None), Some(parse("42000a")));
        assert_eq!(H264ProfileLevelId::from_fmtp(Some("bogus")), None);
    }
}
