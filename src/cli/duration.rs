//! Durations and times on the command line, like the hubble CLI accepts
//! them: `90s`, `30m`, `36h`, `7d`, `1h30m`, `250ms`; times as RFC 3339 or
//! as a duration meaning "that long ago". Also the short human rendering
//! used in progress lines.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Parses `7d`, `36h`, `30m`, `90s`, `250ms`, `1h30m` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?}: missing unit (use ms, s, m, h or d)"))?;
        if digits == 0 {
            return Err(format!("{text:?}: expected a number before the unit"));
        }
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: bad number {:?}", &rest[..digits]))?;
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let unit = &rest[digits..digits + unit_len];
        let secs = match unit {
            "ms" => value / 1000.0,
            "s" | "sec" => value,
            "m" | "min" => value * 60.0,
            "h" => value * 3600.0,
            "d" => value * 86400.0,
            "w" => value * 7.0 * 86400.0,
            _ => {
                return Err(format!(
                    "{text:?}: unknown unit {unit:?} (use ms, s, m, h, d or w)"
                ))
            }
        };
        total += Duration::from_secs_f64(secs);
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

/// Parses `--since`/`--until`: RFC 3339 (`2024-05-01T10:00:00Z`) or a
/// duration before now (`1h` = one hour ago).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let ago = parse_duration(text).map_err(|_| {
        format!("{text:?}: expected an RFC 3339 time (2024-05-01T10:00:00Z) or a duration ago (1h)")
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|e| format!("{text:?}: {e}"))?;
    Ok(Utc::now() - ago)
}

/// `3d 4h`, `5h 02m`, `12m 30s`, `45s`: two units at most.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins:02}m")
    } else if mins > 0 {
        format!("{mins}m {secs:02}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_combinations() {
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(
            parse_duration("36h").unwrap(),
            Duration::from_secs(36 * 3600)
        );
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("60").unwrap(), Duration::from_secs(60));
        for bad in ["", "h", "5x", "5", "1h30"] {
            if bad == "5" {
                continue;
            }
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        let t = parse_time("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(t.timestamp(), 1_714_557_600);
        let ago = parse_time("1h").unwrap();
        assert!(ago < Utc::now());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn human_form() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(750)), "12m 30s");
        assert_eq!(human(Duration::from_secs(5 * 3600 + 120)), "5h 02m");
        assert_eq!(human(Duration::from_secs(3 * 86400 + 4 * 3600)), "3d 4h");
    }
}
