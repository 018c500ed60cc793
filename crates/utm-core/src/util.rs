//! Text and time helpers shared by the decoders: Python-compatible white space, `repr`, event keys,
//! epoch and local times, time zones and ISO 8601 times.

use std::borrow::Cow;

use chrono::{LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use sha2::{Digest, Sha256};

/// Microseconds since the Unix epoch of 1970-01-01T00:00Z and 2100-01-01T00:00Z: decoded times
/// outside this range are a broken clock or a hostile record.
pub const EARLIEST_US: i64 = 0;
pub const LATEST_US: i64 = 4_102_444_800_000_000;
/// Units in the field are set to Japan time unless a line says otherwise.
pub const DEFAULT_OFFSET_S: i32 = 9 * 3600;
pub const MAX_FIELDS: usize = 128;
pub const MAX_KEY: usize = 64;
pub const MAX_VALUE: usize = 2048;

#[derive(Debug, Clone)]
pub struct DecodeError(pub String);

pub type Res<T> = Result<T, DecodeError>;

pub fn err<T>(reason: impl Into<String>) -> Res<T> {
    Err(DecodeError(reason.into()))
}

/// Python's `str.isspace()`: Unicode white space plus the information separators \x1c-\x1f.
#[inline]
pub fn is_space(c: char) -> bool {
    c == ' '
        || ('\t'..='\r').contains(&c)
        || (c > '\x1b' && (c <= '\x1f' || (c > '\x7f' && c.is_whitespace())))
}

/// Python's `str.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `str.lower()` for the common case, borrowing when nothing changes.
pub fn lower(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        let low = s.to_lowercase();
        if low == *s {
            s
        } else {
            Cow::Owned(low)
        }
    } else {
        s
    }
}

/// The first `n` characters of `s`.
pub fn prefix(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The characters of `s` from character `n` on.
pub fn from_char(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[i..],
        None => "",
    }
}

pub fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Python's `str.isprintable()` of one character (control, format, separator and unassigned
/// characters are not, the space is).
fn printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
        | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xd800..=0xdfff | 0xe000..=0xf8ff
        | 0xfeff | 0xfff9..=0xfffb | 0xf0000..=0x10ffff)
}

/// Python's `repr()` of a string.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !printable(c) => {
                let n = c as u32;
                out.push_str(&if n < 0x100 {
                    format!("\\x{n:02x}")
                } else if n < 0x10000 {
                    format!("\\u{n:04x}")
                } else {
                    format!("\\U{n:08x}")
                })
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A stable key of a line: the same line delivered twice gives the same key.
pub fn event_key_of(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

pub fn in_range(us: i64, what: &str) -> Res<i64> {
    if (EARLIEST_US..LATEST_US).contains(&us) {
        Ok(us)
    } else {
        err(format!("{what} out of range"))
    }
}

fn ascii_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// An epoch time in seconds, milliseconds, microseconds or nanoseconds (told apart by size).
pub fn from_epoch(value: &str, what: &str) -> Res<i64> {
    if !ascii_digits(value) || value.len() > 20 {
        return err(format!("invalid {what}"));
    }
    let number: u128 = value
        .parse()
        .map_err(|_| DecodeError(format!("invalid {what}")))?;
    for (i, scale) in [1u128, 1_000, 1_000_000, 1_000_000_000].iter().enumerate() {
        if number < 100_000_000_000 * scale {
            let us: i128 = match i {
                0 => number as i128 * 1_000_000,
                1 => number as i128 * 1_000,
                2 => number as i128,
                _ => {
                    // As Python's datetime.fromtimestamp(number / 1e9): the float's fraction rounded
                    // to microseconds, halves to even.
                    // The quotient rounded once (as Python's int / int), from its whole and its fraction.
                    let seconds =
                        (number / 1_000_000_000) as f64 + (number % 1_000_000_000) as f64 / 1e9;
                    let whole = seconds.trunc();
                    let micro = ((seconds - whole) * 1e6).round_ties_even();
                    whole as i128 * 1_000_000 + micro as i128
                }
            };
            if us < EARLIEST_US as i128 || us >= LATEST_US as i128 {
                return err(format!("{what} out of range"));
            }
            return Ok(us as i64);
        }
    }
    err(format!("{what} out of range"))
}

/// A time zone: a fixed offset (seconds east of UTC) or an IANA zone.
#[derive(Clone, Copy)]
pub enum Zone {
    Fixed(i32),
    Iana(chrono_tz::Tz),
}

pub const JST: Zone = Zone::Fixed(DEFAULT_OFFSET_S);

/// `+0900` / `-05:00` as a time zone.
pub fn offset_zone(text: &str) -> Res<Zone> {
    let b = text.as_bytes();
    let bad = || DecodeError(format!("invalid time zone {}", py_repr(prefix(text, 16))));
    let (sign, rest) = match b.first() {
        Some(b'+') => (1, &b[1..]),
        Some(b'-') => (-1, &b[1..]),
        _ => return Err(bad()),
    };
    let digits: Vec<u8> = match rest.len() {
        4 => rest.to_vec(),
        5 if rest[2] == b':' => vec![rest[0], rest[1], rest[3], rest[4]],
        _ => return Err(bad()),
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let hours = ((digits[0] - b'0') * 10 + (digits[1] - b'0')) as i32;
    let minutes = ((digits[2] - b'0') * 10 + (digits[3] - b'0')) as i32;
    if hours > 23 || minutes > 59 {
        return Err(bad());
    }
    Ok(Zone::Fixed(sign * (hours * 3600 + minutes * 60)))
}

/// A time zone by abbreviation (`JST`), IANA name (`Asia/Tokyo`) or offset (`+0900`), from the table
/// of abbreviations in the formats file.
pub fn named_zone(name: &str, names: &std::collections::HashMap<String, i32>) -> Res<Zone> {
    let name = strip(name);
    if name.is_empty() {
        return Ok(JST);
    }
    if name.starts_with('+') || name.starts_with('-') {
        return offset_zone(name);
    }
    if let Some(minutes) = names.get(&name.to_uppercase()) {
        return Ok(Zone::Fixed(minutes * 60));
    }
    if name.contains('/') && char_len(name) <= 64 && !name.contains("..") {
        if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
            return Ok(Zone::Iana(tz));
        }
    }
    err(format!("unknown time zone {}", py_repr(prefix(name, 32))))
}

fn micros(dt: NaiveDateTime) -> i64 {
    dt.and_utc().timestamp_micros()
}

/// A local date and time in a zone, as microseconds since the epoch (fold 0 as Python's zoneinfo).
pub fn zoned(local: NaiveDateTime, zone: Zone) -> i64 {
    match zone {
        Zone::Fixed(offset) => micros(local) - offset as i64 * 1_000_000,
        Zone::Iana(tz) => match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.timestamp_micros(),
            LocalResult::None => {
                // In a gap: the offset in force before the transition (as Python's fold=0).
                let before = local - chrono::Duration::hours(3);
                match tz.from_local_datetime(&before) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        t.timestamp_micros() + 3 * 3_600_000_000
                    }
                    LocalResult::None => micros(local),
                }
            }
        },
    }
}

fn num(s: &str) -> Option<u32> {
    if ascii_digits(s) && s.len() <= 9 {
        s.parse().ok()
    } else {
        None
    }
}

/// Python's `int()` of a short text: white space around, an optional sign, digits (underscores
/// between them).
fn py_int(s: &str) -> Option<i64> {
    let t = strip(s);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut n: i64 = 0;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(10)? as i64;
        n = n.checked_mul(10)?.checked_add(d)?;
    }
    Some(if negative { -n } else { n })
}

/// `YYYY-MM-DD` (or `YYYY/MM/DD`) and `HH:MM[:SS]` in `zone`, as microseconds since the epoch; the
/// numbers are read as Python's `int()` reads them.
pub fn local_time(date: &str, time: &str, zone: Zone, what: &str) -> Res<i64> {
    let bad = || DecodeError(format!("invalid {what}"));
    let d: Vec<char> = date.chars().collect();
    let t: Vec<char> = time.chars().collect();
    if d.len() != 10 || !(t.len() == 5 || t.len() == 8) {
        return Err(bad());
    }
    let part = |v: &[char], a: usize, b: usize| {
        py_int(&v[a..b].iter().collect::<String>()).ok_or_else(bad)
    };
    let (year, month, day) = (part(&d, 0, 4)?, part(&d, 5, 7)?, part(&d, 8, 10)?);
    let (hour, minute) = (part(&t, 0, 2)?, part(&t, 3, 5)?);
    let second = if t.len() == 8 { part(&t, 6, 8)? } else { 0 };
    if !(1..=9999).contains(&year)
        || [month, day, hour, minute, second]
            .iter()
            .any(|n| !(0..=99).contains(n))
    {
        return Err(bad());
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32).ok_or_else(bad)?;
    let clock =
        NaiveTime::from_hms_opt(hour as u32, minute as u32, second as u32).ok_or_else(bad)?;
    in_range(zoned(date.and_time(clock), zone), what)
}

/// A parsed ISO 8601 time (`datetime.fromisoformat` of Python 3.11): microseconds of the local
/// time read as UTC, and the offset in seconds when the text has one.
pub struct IsoTime {
    pub local_us: i64,
    pub offset_s: Option<i32>,
}

impl IsoTime {
    pub fn utc_us(&self, default_offset: i32) -> i64 {
        self.local_us - self.offset_s.unwrap_or(default_offset) as i64 * 1_000_000
    }
}

pub fn parse_iso(text: &str) -> Option<IsoTime> {
    if !text.is_ascii() {
        return None;
    }
    let b = text.as_bytes();
    let (date, rest) = if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        (
            NaiveDate::from_ymd_opt(
                num(&text[0..4])? as i32,
                num(&text[5..7])?,
                num(&text[8..10])?,
            )?,
            &text[10..],
        )
    } else if b.len() >= 8
        && b[..8].iter().all(u8::is_ascii_digit)
        && (b.len() == 8 || !b[8].is_ascii_digit())
    {
        (
            NaiveDate::from_ymd_opt(
                num(&text[0..4])? as i32,
                num(&text[4..6])?,
                num(&text[6..8])?,
            )?,
            &text[8..],
        )
    } else {
        return None;
    };
    if num(&text[0..4])? == 0 {
        return None;
    }
    if rest.is_empty() {
        return Some(IsoTime {
            local_us: micros(date.and_hms_opt(0, 0, 0)?),
            offset_s: None,
        });
    }
    let rest = &rest[1..]; // any one separator character
    let tz_at = rest.find(['+', '-', 'Z']).unwrap_or(rest.len());
    let (clock, tz) = rest.split_at(tz_at);
    let (hms, frac) = match clock.find(['.', ',']) {
        Some(i) => (&clock[..i], Some(&clock[i + 1..])),
        None => (clock, None),
    };
    let parts: Vec<&str> = if hms.contains(':') {
        hms.split(':').collect()
    } else {
        let mut v = Vec::new();
        let mut i = 0;
        while i < hms.len() {
            v.push(hms.get(i..i + 2)?);
            i += 2;
        }
        v
    };
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    if frac.is_some() && parts.len() != 3 {
        return None;
    }
    let hour = num(parts[0])?;
    let minute = if parts.len() > 1 { num(parts[1])? } else { 0 };
    let second = if parts.len() > 2 { num(parts[2])? } else { 0 };
    let mut micro = 0u32;
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let six: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
        micro = six.parse().ok()?;
    }
    let t = NaiveTime::from_hms_micro_opt(hour, minute, second, micro)?;
    let local_us = micros(date.and_time(t));
    let offset_s = if tz.is_empty() {
        None
    } else if tz == "Z" {
        Some(0)
    } else {
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        let body = &tz[1..];
        let (main, _frac) = match body.find('.') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let m = main.as_bytes();
        let colons = matches!(m.len(), 5 | 8) && m[2] == b':' && (m.len() == 5 || m[5] == b':');
        if !(matches!(m.len(), 2 | 4 | 6) || colons) {
            return None;
        }
        let digits: String = main.chars().filter(|c| *c != ':').collect();
        if !(digits.len() == 2 || digits.len() == 4 || digits.len() == 6) {
            return None;
        }
        let h = num(&digits[0..2])? as i32;
        let m = if digits.len() >= 4 {
            num(&digits[2..4])? as i32
        } else {
            0
        };
        let s = if digits.len() == 6 {
            num(&digits[4..6])? as i32
        } else {
            0
        };
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        Some(sign * (h * 3600 + m * 60 + s))
    };
    Some(IsoTime { local_us, offset_s })
}

/// Python's `datetime.isoformat()` of an aware UTC datetime.
pub fn isoformat_utc(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micro = us.rem_euclid(1_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, micro * 1000) {
        Some(t) => {
            let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            let base = if t.format("%Y").to_string().len() < 4 {
                format!("{base:0>19}")
            } else {
                base
            };
            if micro != 0 {
                format!("{base}.{micro:06}+00:00")
            } else {
                format!("{base}+00:00")
            }
        }
        None => String::from("invalid"),
    }
}

/// Python's `repr()` of a float (shortest round-trip digits, exponent from 1e16 and below 1e-4).
pub fn py_float(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let text = format!("{value:?}");
    match text.find('e') {
        None => text,
        Some(i) => {
            let (mantissa, exp) = (&text[..i], &text[i + 1..]);
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let mantissa = mantissa.strip_suffix(".0").unwrap_or(mantissa);
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}
