//! Business hours of a queue: outside them its live media are not offered (email still is, into the
//! backlog), and the status says until when it is open or closed.
//!
//! One fixed offset from UTC per queue, no time-zone database: the core has no clock and no data
//! files, and a center that observes daylight saving sets the new offset when it changes.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// One weekly opening window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OpenWindow {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// Opens, in minutes after local midnight.
    pub start_minute: u16,
    /// Closes, in minutes after local midnight (exclusive; 1440 is midnight at the end of the day).
    pub end_minute: u16,
}

/// Weekly opening hours in the center's local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BusinessHours {
    /// Local time minus UTC, in minutes (60 for UTC+01:00).
    pub utc_offset_minutes: i32,
    /// Open when any window holds the moment.
    pub windows: Vec<OpenWindow>,
}

impl BusinessHours {
    /// Checks the windows, so a typo in a configuration is an error at start-up, not a center that
    /// never opens.
    pub fn validate(&self) -> Result<(), String> {
        if self.utc_offset_minutes.abs() > 14 * 60 {
            return Err(format!("an offset of {} minutes is not a time zone", self.utc_offset_minutes));
        }
        if self.windows.is_empty() {
            return Err("no opening window".into());
        }
        for w in &self.windows {
            if w.days.is_empty() || w.days.iter().any(|d| !(1..=7).contains(d)) {
                return Err(format!("days {:?}: 1 (Monday) to 7 (Sunday)", w.days));
            }
            if w.start_minute >= w.end_minute || w.end_minute > 1440 {
                return Err(format!("{}–{}: a window opens before it closes, within one day", hhmm(w.start_minute), hhmm(w.end_minute)));
            }
        }
        Ok(())
    }

    /// Whether the queue is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let local = at.0 as i64 + self.utc_offset_minutes as i64 * MINUTE_MS;
        let day = local.div_euclid(DAY_MS);
        let minute = (local.rem_euclid(DAY_MS) / MINUTE_MS) as u16;
        // 1970-01-01 was a Thursday (ISO 4).
        let weekday = ((day + 3).rem_euclid(7) + 1) as u8;
        self.windows.iter().any(|w| w.days.contains(&weekday) && w.start_minute <= minute && minute < w.end_minute)
    }

    /// The next moment after `at` when open turns closed or closed turns open (within a week and a
    /// day), none if that never happens.
    pub fn next_change(&self, at: Timestamp) -> Option<Timestamp> {
        let open = self.is_open(at);
        let offset = self.utc_offset_minutes as i64 * MINUTE_MS;
        let local_day = (at.0 as i64 + offset).div_euclid(DAY_MS);
        let mut edges: Vec<i64> = vec![];
        for d in 0..=8 {
            let midnight = (local_day + d) * DAY_MS - offset;
            for w in &self.windows {
                edges.push(midnight + w.start_minute as i64 * MINUTE_MS);
                edges.push(midnight + w.end_minute as i64 * MINUTE_MS);
            }
        }
        edges.sort_unstable();
        edges.into_iter().filter(|t| *t > at.0 as i64).map(|t| Timestamp(t as u64)).find(|t| self.is_open(*t) != open)
    }

    /// Reads hours written as people write them: `Mon-Fri 09:00-17:00, Sat 10:00-14:00 +01:00`
    /// (the offset last, `Z` or none for UTC).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (body, offset) = match s.rsplit_once(' ') {
            Some((b, o)) if o.starts_with(['+', '-']) || o.eq_ignore_ascii_case("z") => (b, parse_offset(o)?),
            _ => (s, 0),
        };
        let mut windows = vec![];
        for part in body.split(',') {
            let (days, times) = part.trim().split_once(' ').ok_or_else(|| format!("{part:?}: days, then hh:mm-hh:mm"))?;
            let (a, b) = times.trim().split_once('-').ok_or_else(|| format!("{times:?}: hh:mm-hh:mm"))?;
            windows.push(OpenWindow { days: parse_days(days)?, start_minute: parse_hhmm(a)?, end_minute: parse_hhmm(b)? });
        }
        let h = BusinessHours { utc_offset_minutes: offset, windows };
        h.validate()?;
        Ok(h)
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_day(s: &str) -> Result<u8, String> {
    let l = s.trim().to_ascii_lowercase();
    DAYS.iter().position(|d| l.starts_with(d)).map(|i| i as u8 + 1).ok_or_else(|| format!("{s:?} is not a weekday (Mon … Sun)"))
}

fn parse_days(s: &str) -> Result<Vec<u8>, String> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse_day(a)?, parse_day(b)?);
            if a > b {
                return Err(format!("{s:?}: a range of days runs Monday to Sunday"));
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![parse_day(s)?]),
    }
}

fn parse_hhmm(s: &str) -> Result<u16, String> {
    let (h, m) = s.trim().split_once(':').ok_or_else(|| format!("{s:?}: hh:mm"))?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| format!("{s:?}: hh:mm"))?, m.parse().map_err(|_| format!("{s:?}: hh:mm"))?);
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(format!("{s:?} is not a time of day"));
    }
    Ok(h * 60 + m)
}

fn parse_offset(s: &str) -> Result<i32, String> {
    if s.eq_ignore_ascii_case("z") {
        return Ok(0);
    }
    let sign = if s.starts_with('-') { -1 } else { 1 };
    let m = parse_hhmm(&s[1..]).map_err(|_| format!("{s:?}: an offset is +hh:mm or -hh:mm"))?;
    Ok(sign * m as i32)
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-01 is a Tuesday; 00:00 UTC.
    const TUE: u64 = 1_796_083_200_000;
    const H: u64 = 3_600_000;

    #[test]
    fn open_and_closed_by_weekday_time_and_offset() {
        let h = BusinessHours::parse("Mon-Fri 09:00-17:00, Sat 10:00-14:00 +01:00").unwrap();
        assert_eq!(h.utc_offset_minutes, 60);
        assert!(!h.is_open(Timestamp(TUE + 7 * H)), "08:00 local");
        assert!(h.is_open(Timestamp(TUE + 8 * H)), "09:00 local");
        assert!(h.is_open(Timestamp(TUE + 16 * H - 1)), "16:59:59.999 local");
        assert!(!h.is_open(Timestamp(TUE + 16 * H)), "17:00 local is closed");
        assert!(h.is_open(Timestamp(TUE + 4 * 24 * H + 9 * H)), "Saturday 10:00 local");
        assert!(!h.is_open(Timestamp(TUE + 5 * 24 * H + 9 * H)), "Sunday");
    }

    #[test]
    fn the_next_change_is_the_next_opening_or_closing() {
        let h = BusinessHours::parse("Mon-Fri 09:00-17:00 +01:00").unwrap();
        assert_eq!(h.next_change(Timestamp(TUE + 2 * H)), Some(Timestamp(TUE + 8 * H)), "opens at 09:00 local");
        assert_eq!(h.next_change(Timestamp(TUE + 8 * H)), Some(Timestamp(TUE + 16 * H)), "then closes at 17:00");
        // Friday evening: next opening is Monday.
        let fri_evening = TUE + 3 * 24 * H + 18 * H;
        assert_eq!(h.next_change(Timestamp(fri_evening)), Some(Timestamp(TUE + 6 * 24 * H + 8 * H)));
        // Touching windows do not count as a change.
        let h = BusinessHours::parse("Mon-Sun 00:00-24:00").unwrap();
        assert_eq!(h.next_change(Timestamp(TUE)), None, "always open");
    }

    #[test]
    fn bad_hours_are_refused_with_the_reason() {
        for bad in ["Mon-Fri 17:00-09:00", "Fri-Mon 09:00-17:00", "Mon 09:00", "Xyz 09:00-10:00", "Mon 09:00-25:00", "Mon 09:00-17:00 +15:00", ""] {
            assert!(BusinessHours::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(BusinessHours::parse("Sun 10:00-12:00 -05:30").unwrap().utc_offset_minutes, -330);
    }
}
