//! RFC 3339 timestamps, the only time format on the wire (spec §0, DECISIONS.md §12).

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// An RFC 3339 timestamp string such as `"2024-05-01T12:00:00.250Z"`.
///
/// The server produces them in UTC with millisecond precision ([`Timestamp::from_unix_millis`]);
/// clients never supply times the server trusts (spec §0), so decoding only checks the shape and
/// keeps the text as it came, which makes re-encoding exact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Timestamp(String);

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTimestamp(pub String);

impl fmt::Display for InvalidTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an RFC 3339 timestamp: {:?}", self.0)
    }
}

impl std::error::Error for InvalidTimestamp {}

impl Timestamp {
    /// Checks the RFC 3339 `date-time` grammar (§5.6): `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`,
    /// with field ranges checked (leap second 60 allowed, days per month not checked).
    pub fn parse(text: &str) -> Result<Self, InvalidTimestamp> {
        if is_rfc3339(text.as_bytes()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidTimestamp(text.to_owned()))
        }
    }

    /// The server's format: UTC, millisecond precision, `Z` suffix (spec §0).
    pub fn from_unix_millis(millis: i64) -> Self {
        let days = millis.div_euclid(86_400_000);
        let ms_of_day = millis.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s, ms) = (
            ms_of_day / 3_600_000,
            ms_of_day / 60_000 % 60,
            ms_of_day / 1000 % 60,
            ms_of_day % 1000,
        );
        Self(format!(
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"
        ))
    }

    /// The text as it appears on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn is_rfc3339(b: &[u8]) -> bool {
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let slice = b.get(range)?;
        slice.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(_year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    let separators_ok = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':';
    let ranges_ok = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    if !separators_ok || !ranges_ok {
        return false;
    }
    let mut rest = &b[19..];
    if let Some((&b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let all_digits = [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit());
            all_digits
                && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day) in the
/// proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The server's own format: UTC, three fraction digits, `Z`.
    #[test]
    fn unix_millis_format_as_utc_with_milliseconds() {
        assert_eq!(
            Timestamp::from_unix_millis(0).as_str(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(1_714_564_800_250).as_str(),
            "2024-05-01T12:00:00.250Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(951_782_400_000).as_str(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(-1).as_str(),
            "1969-12-31T23:59:59.999Z"
        );
    }

    // What we produce always parses back.
    #[test]
    fn produced_timestamps_parse() {
        for millis in [0, 1, 86_399_999, 1_714_564_800_250, 4_102_444_800_000] {
            let ts = Timestamp::from_unix_millis(millis);
            assert_eq!(Timestamp::parse(ts.as_str()), Ok(ts));
        }
    }

    // The RFC 3339 date-time grammar: offsets and fractions accepted, other shapes refused.
    #[test]
    fn parse_accepts_rfc3339_and_refuses_other_shapes() {
        for ok in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.1Z",
            "2024-05-01T12:00:00.123456+02:00",
            "2024-05-01t12:00:00-00:30",
        ] {
            assert!(Timestamp::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01 12:00:00Z",
            "2024-13-01T12:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+0200",
            "1714564800",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }
}
