//! Decoding one raw record into its neutral event: the structure of every format (syslog headers,
//! the key=value tokenizer, CSV, CEF, JSON and the collector's envelope) with the field maps of
//! formats.toml.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::formats::{Attr, Cond, Entry, Formats, Key, Source, VendorMap};
use crate::util::*;

pub const MAX_PAIRS: usize = 512;
pub const MAX_JSON_DEPTH: usize = 16;
pub const MAX_IDENTITY: usize = 128;

/// Decoded fields in their order, with a small hash index (first occurrence of a key kept).
#[derive(Debug, Clone, Default)]
pub struct Pairs<'a> {
    items: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    slots: Vec<u64>,
}

/// A cheap hash of a field name: its length and first, second and last bytes, mixed.
#[inline]
fn fnv(key: &str) -> usize {
    let b = key.as_bytes();
    let n = b.len();
    let raw: u64 = if n == 0 {
        0
    } else {
        (n as u64)
            | (b[0] as u64) << 8
            | (b[n.min(2) - 1] as u64) << 16
            | (b[n - 1] as u64) << 24
            | (b[n / 2] as u64) << 32
    };
    (raw.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize
}

impl<'a> Pairs<'a> {
    pub fn with_capacity(n: usize) -> Self {
        Pairs {
            items: Vec::with_capacity(n),
            slots: vec![0; (n * 2).next_power_of_two().max(16)],
        }
    }

    /// The slot of `key`: (slot, index of the item holding it). A slot holds the item's index + 1
    /// in its low 32 bits and the key's hash in its high bits, so that most misses compare no text.
    #[inline]
    fn slot(&self, key: &str) -> (usize, Option<usize>) {
        let mask = self.slots.len() - 1;
        let hash = fnv(key);
        let tag = (hash as u64) << 32;
        let mut i = hash & mask;
        loop {
            let entry = self.slots[i];
            if entry == 0 {
                return (i, None);
            }
            if entry & 0xffff_ffff_0000_0000 == tag {
                let index = (entry & 0xffff_ffff) as usize - 1;
                if *self.items[index].0 == *key {
                    return (i, Some(index));
                }
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        let mask = size - 1;
        for entry in old.into_iter().filter(|e| *e != 0) {
            let mut i = (entry >> 32) as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = entry;
        }
    }

    /// Adds a pair unless its key is there already (the first occurrence wins); whether it was added.
    pub fn push_first(&mut self, key: Cow<'a, str>, value: Cow<'a, str>) -> bool {
        if (self.items.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        match self.slot(&key) {
            (_, Some(_)) => false,
            (i, None) => {
                let tag = (fnv(&key) as u64) << 32;
                self.items.push((key, value));
                self.slots[i] = tag | self.items.len() as u64;
                true
            }
        }
    }

    /// Sets a key's value, replacing an earlier one in its place.
    pub fn set(&mut self, key: Cow<'a, str>, value: Cow<'a, str>) {
        if let (_, Some(index)) = self.slot(&key) {
            self.items[index].1 = value;
        } else {
            self.push_first(key, value);
        }
    }

    #[inline]
    pub fn get(&self, key: &str) -> Option<&Cow<'a, str>> {
        self.slot(key).1.map(|i| &self.items[i].1)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, (Cow<'a, str>, Cow<'a, str>)> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

impl<'a> IntoIterator for Pairs<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);
    type IntoIter = std::vec::IntoIter<(Cow<'a, str>, Cow<'a, str>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// One UTM log line of any vendor, reduced to the same fields.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub vendor: &'a str,
    pub format: &'a str,
    pub occurred_at: i64,
    /// kind subtype serial device_name action level signature group src_ip dst_ip url user message
    pub attrs: [Cow<'a, str>; 13],
    pub sender: Cow<'a, str>,
    pub key_text: Cow<'a, str>,
    pub event_key: Option<String>,
    pub fields: Pairs<'a>,
    /// The decoded fields are known to have keys of the tokenizer (no key check needed).
    pub checked_keys: bool,
}

impl<'a> Event<'a> {
    fn new(vendor: &'a str, format: &'a str) -> Self {
        Event {
            vendor,
            format,
            occurred_at: 0,
            attrs: Default::default(),
            sender: Cow::Borrowed(""),
            key_text: Cow::Borrowed(""),
            event_key: None,
            fields: Pairs::default(),
            checked_keys: false,
        }
    }

    #[inline]
    pub fn get(&self, attr: Attr) -> &str {
        &self.attrs[attr as usize]
    }

    pub fn key(&self) -> String {
        match &self.event_key {
            Some(k) => k.clone(),
            None => event_key_of(&self.key_text),
        }
    }

    /// At most MAX_FIELDS fields with storable keys and values cut to MAX_VALUE characters.
    pub fn bounded_fields(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::with_capacity(self.fields.len().min(MAX_FIELDS));
        for (k, v) in self.fields.iter() {
            if out.len() >= MAX_FIELDS {
                break;
            }
            if k.len() > MAX_KEY || !(self.checked_keys || key_ok(k)) {
                continue;
            }
            let v: &str = v;
            out.push((
                &**k,
                if v.len() > MAX_VALUE {
                    prefix(v, MAX_VALUE)
                } else {
                    v
                },
            ));
        }
        out
    }
}

fn key_ok(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_KEY
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

pub fn lookup<'b, 'a>(pairs: &'b Pairs<'a>, key: &str) -> Option<&'b Cow<'a, str>> {
    if pairs.slots.is_empty() {
        return None;
    }
    pairs.get(key)
}

fn get<'a>(pairs: &Pairs<'a>, key: &str) -> Cow<'a, str> {
    lookup(pairs, key).cloned().unwrap_or(Cow::Borrowed(""))
}

// --- the key=value tokenizer ------------------------------------------------------------------------

fn key_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[inline]
fn space_at(s: &str, i: usize) -> bool {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        b == b' ' || (b'\t'..=b'\r').contains(&b) || (0x1c..=0x1f).contains(&b)
    } else {
        s[i..].chars().next().is_some_and(is_space)
    }
}

fn skip_space(s: &str, mut i: usize) -> usize {
    while i < s.len() && space_at(s, i) {
        i += s[i..].chars().next().map_or(1, char::len_utf8);
    }
    i
}

/// A `key=value` pair at `i`: (key end, value start, value end, quoted) without the lookahead.
fn pair_at(s: &str, i: usize) -> Option<(usize, usize, usize, bool)> {
    let b = s.as_bytes();
    if i >= b.len() || !key_start(b[i]) {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() && key_char(b[j]) {
        j += 1;
    }
    if j >= b.len() || b[j] != b'=' {
        return None;
    }
    let key_end = j;
    let v = j + 1;
    if v < b.len() && b[v] == b'"' {
        let mut k = v + 1;
        while k < b.len() {
            // Straight to the next quote or backslash.
            match b[k..].iter().position(|c| *c == b'"' || *c == b'\\') {
                Some(n) => k += n,
                None => break,
            }
            match b[k] {
                b'"' => return Some((key_end, v, k + 1, true)),
                b'\\' => {
                    if k + 1 >= b.len() {
                        break;
                    }
                    k += 1 + s[k + 1..].chars().next().map_or(1, char::len_utf8);
                }
                _ => k += 1,
            }
        }
        // Unterminated: the bare alternative matches the empty value before the quote.
        return Some((key_end, v, v, false));
    }
    let mut k = v;
    while k < b.len() {
        let c = b[k];
        if c < 0x80 {
            if c == b'"' || c == b' ' || (b'\t'..=b'\r').contains(&c) || (0x1c..=0x1f).contains(&c)
            {
                break;
            }
            k += 1;
        } else {
            if space_at(s, k) {
                break;
            }
            k += s[k..].chars().next().map_or(1, char::len_utf8);
        }
    }
    Some((key_end, v, k, false))
}

fn unescape_backslashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The pairs of a `key=value` line (quotes removed, escapes resolved; the first occurrence of a
/// duplicate key wins) and the number of duplicates ignored.
pub fn tokenize(line: &str) -> Res<(Pairs<'_>, usize)> {
    let mut pairs: Pairs = Pairs::with_capacity(48);
    let mut tokens = 0usize;
    let mut bad = false;
    let mut i = skip_space(line, 0);
    while i < line.len() {
        tokens += 1;
        let parsed = pair_at(line, i).and_then(|(ke, vs, ve, quoted)| {
            let followed = ve >= line.len() || space_at(line, ve);
            if followed && (quoted || vs == ve || line.as_bytes()[vs] != b'"') {
                Some((ke, vs, ve, quoted))
            } else {
                None
            }
        });
        match parsed {
            Some((ke, vs, ve, quoted)) => {
                if !bad {
                    let key = &line[i..ke];
                    {
                        let value = if quoted {
                            let inner = &line[vs + 1..ve - 1];
                            if inner.contains('\\') {
                                Cow::Owned(unescape_backslashes(inner))
                            } else {
                                Cow::Borrowed(inner)
                            }
                        } else {
                            Cow::Borrowed(&line[vs..ve])
                        };
                        pairs.push_first(Cow::Borrowed(key), value);
                    }
                }
                i = skip_space(line, ve);
            }
            None => {
                bad = true;
                let mut j = i;
                while j < line.len() && !space_at(line, j) {
                    j += line[j..].chars().next().map_or(1, char::len_utf8);
                }
                i = skip_space(line, j);
            }
        }
    }
    if tokens > MAX_PAIRS {
        return err(format!("more than {MAX_PAIRS} fields"));
    }
    if bad {
        return err(why(line));
    }
    let dups = tokens - pairs.len();
    Ok((pairs, dups))
}

fn char_offset(s: &str, byte: usize) -> usize {
    char_len(&s[..byte])
}

/// A short reason why `line` is not a key=value sequence.
fn why(line: &str) -> String {
    let mut pos = 0;
    loop {
        pos = skip_space(line, pos);
        if pos >= line.len() {
            return "malformed key=value line".into();
        }
        match pair_at(line, pos) {
            None => {
                let b = line.as_bytes();
                let mut j = pos;
                if j < b.len() && key_start(b[j]) {
                    j += 1;
                    while j < b.len() && key_char(b[j]) {
                        j += 1;
                    }
                    if b.get(j) == Some(&b'=') && b.get(j + 1) == Some(&b'"') {
                        return format!(
                            "unterminated quoted value at offset {}",
                            char_offset(line, pos)
                        );
                    }
                }
                return format!("not a key=value pair at offset {}", char_offset(line, pos));
            }
            Some((_, vs, ve, _)) => {
                if vs == ve && line.as_bytes().get(ve) == Some(&b'"') {
                    return format!(
                        "unterminated quoted value at offset {}",
                        char_offset(line, ve)
                    );
                }
                if ve < line.len() && !space_at(line, ve) {
                    return format!(
                        "no space after the value at offset {}",
                        char_offset(line, ve)
                    );
                }
                pos = ve;
            }
        }
    }
}

// --- syslog headers -----------------------------------------------------------------------------------

/// A message without its syslog header; empty fields when the header had none.
pub struct SyslogMessage<'a> {
    pub body: &'a str,
    pub priority: Option<u32>,
    pub hostname: &'a str,
    pub app: &'a str,
    pub header: &'static str,
    pub timestamp: &'a str,
}

fn bsd_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (?:([A-Za-z0-9._:%-]{1,255}) )?",
        )
        .unwrap()
    })
}

fn tag_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[A-Za-z0-9_./-]{1,48}(?:\[\d{1,10}\])?: ").unwrap())
}

/// Split `text` into its syslog header (if any) and the vendor's message.
pub fn split_header(text: &str) -> Res<SyslogMessage<'_>> {
    let mut priority = None;
    let mut text = text;
    let b = text.as_bytes();
    if b.first() == Some(&b'<') {
        let digits = b[1..]
            .iter()
            .take(4)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if (1..=3).contains(&digits) && b.get(1 + digits) == Some(&b'>') {
            let p: u32 = text[1..1 + digits].parse().unwrap_or(999);
            if p > 191 {
                return err("invalid syslog priority");
            }
            priority = Some(p);
            text = &text[2 + digits..];
            if let Some(rest) = text.strip_prefix("1 ") {
                return rfc5424(rest, p);
            }
        }
    }
    let first = text.chars().next();
    let bsd = if first.is_some_and(|c| c.is_uppercase() || c.is_ascii_digit()) {
        bsd_re().captures(text)
    } else {
        None
    };
    let Some(bsd) = bsd else {
        return Ok(SyslogMessage {
            body: text,
            priority,
            hostname: "",
            app: "",
            header: "none",
            timestamp: "",
        });
    };
    let host = bsd.get(1).map_or("", |m| m.as_str());
    let mut body = &text[bsd.get(0).unwrap().end()..];
    let mut app = "";
    if let Some(tag) = tag_re().find(body) {
        let t = &body[..tag.end() - 2];
        app = t.split('[').next().unwrap_or("");
        body = &body[tag.end()..];
    }
    Ok(SyslogMessage {
        body,
        priority,
        hostname: host,
        app,
        header: "rfc3164",
        timestamp: "",
    })
}

/// RFC 5424 structured data element at `pos` (`[...]` with quoted values and escapes): its end.
fn sd_element(s: &str, pos: usize) -> Option<usize> {
    let b = s.as_bytes();
    if b.get(pos) != Some(&b'[') {
        return None;
    }
    let mut i = pos + 1;
    loop {
        match b.get(i)? {
            b']' => return Some(i + 1),
            b'\\' => {
                i += 1;
                let c = s.get(i..)?.chars().next()?;
                i += c.len_utf8();
            }
            b'"' => {
                i += 1;
                loop {
                    match b.get(i)? {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' => {
                            i += 1;
                            let c = s.get(i..)?.chars().next()?;
                            i += c.len_utf8();
                        }
                        _ => i += 1,
                    }
                }
            }
            _ => i += 1,
        }
    }
}

fn rfc5424(text: &str, priority: u32) -> Res<SyslogMessage<'_>> {
    let parts: Vec<&str> = text.splitn(6, ' ').collect();
    if parts.len() < 5 {
        return err("truncated RFC 5424 header");
    }
    let (timestamp, hostname, app) = (parts[0], parts[1], parts[2]);
    let mut rest = if parts.len() == 6 { parts[5] } else { "" };
    if let Some(r) = rest.strip_prefix('-') {
        rest = r;
    } else {
        let mut pos = 0;
        while rest[pos..].starts_with('[') {
            match sd_element(rest, pos) {
                Some(end) => pos = end,
                None => return err("malformed RFC 5424 structured data"),
            }
        }
        if pos == 0 {
            return err("RFC 5424 structured data missing");
        }
        rest = &rest[pos..];
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let rest = rest.strip_prefix('\u{feff}').unwrap_or(rest);
    Ok(SyslogMessage {
        body: rest,
        priority: Some(priority),
        hostname: if hostname == "-" { "" } else { hostname },
        app: if app == "-" { "" } else { app },
        header: "rfc5424",
        timestamp: if timestamp == "-" { "" } else { timestamp },
    })
}

/// An RFC 3339 time of a syslog header or envelope, or None when it is unreadable.
fn header_time(value: &str) -> Option<i64> {
    let replaced = value.replace('Z', "+00:00");
    let t = parse_iso(&replaced)?;
    t.offset_s?;
    in_range(t.utc_us(0), "time").ok()
}

// --- CEF -------------------------------------------------------------------------------------------------

fn ext_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']' | b'-')
}

fn cef_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The pairs of a CEF extension; the first occurrence of a key wins.
pub fn cef_extension(text: &str) -> Res<Pairs<'_>> {
    // Keys: at the start or after white space, 1-64 key characters followed by "=".
    let b = text.as_bytes();
    let mut keys: Vec<(usize, usize, usize)> = Vec::new(); // (start, key end, value start)
    let mut i = 0;
    let mut prev_space = true;
    while i < b.len() {
        if prev_space && ext_key_char(b[i]) {
            let mut j = i;
            while j < b.len() && ext_key_char(b[j]) {
                j += 1;
            }
            if j - i <= 64 && b.get(j) == Some(&b'=') {
                keys.push((i, j, j + 1));
                i = j + 1;
                prev_space = false;
                continue;
            }
        }
        if b[i] < 0x80 {
            prev_space = space_at(text, i);
            i += 1;
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            prev_space = is_space(c);
            i += c.len_utf8();
        }
    }
    if !strip(text).is_empty() && (keys.is_empty() || !strip(&text[..keys[0].0]).is_empty()) {
        return err("CEF extension does not start with key=value");
    }
    let mut pairs: Pairs = Pairs::with_capacity(keys.len());
    for (n, (start, key_end, value_start)) in keys.iter().enumerate() {
        let key = &text[*start..*key_end];
        if lookup(&pairs, key).is_some() {
            continue;
        }
        let end = keys.get(n + 1).map_or(text.len(), |k| k.0);
        let value = text[*value_start..end].trim_end_matches(' ');
        let value = if value.contains('\\') {
            Cow::Owned(cef_unescape(value))
        } else {
            Cow::Borrowed(value)
        };
        pairs.push_first(Cow::Borrowed(key), value);
    }
    Ok(pairs)
}

// --- the engine's decoding --------------------------------------------------------------------------------

pub struct Decoder {
    pub formats: Formats,
    panos_start: Regex,
}

pub struct Scratch {
    msg: String,
    host: String,
    hostname: String,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            msg: String::new(),
            host: String::new(),
            hostname: String::new(),
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

struct Ctx<'a> {
    sender: &'a str,
    hostname: &'a str,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

impl Decoder {
    pub fn new(formats: Formats) -> Self {
        Decoder {
            formats,
            panos_start: Regex::new(
                r"^[^,]*,\d{4}/\d\d/\d\d \d\d:\d\d:\d\d,[^,]*,(?:THREAT|TRAFFIC|SYSTEM|[A-Z]+),",
            )
            .unwrap(),
        }
    }

    /// The neutral event of one record's text (already made valid UTF-8), or the reason it is not one.
    pub fn decode<'a>(
        &'a self,
        text: &'a str,
        sender: &'a str,
        scratch: &'a mut Scratch,
    ) -> Res<Event<'a>> {
        let event = self.decode_text(strip(text), sender, None, Some(scratch))?;
        let (serial, name) = (event.get(Attr::Serial), event.get(Attr::DeviceName));
        let sender = &*event.sender;
        if char_len(serial) > MAX_IDENTITY
            || char_len(name) > MAX_IDENTITY
            || char_len(sender) > MAX_IDENTITY
        {
            return err("unit identity too long");
        }
        if serial.contains('\0') || name.contains('\0') || sender.contains('\0') {
            return err("NUL byte in the unit identity");
        }
        Ok(event)
    }

    fn decode_text<'a>(
        &'a self,
        text: &'a str,
        sender: &'a str,
        fallback: Option<i64>,
        scratch: Option<&'a mut Scratch>,
    ) -> Res<Event<'a>> {
        if text.is_empty() {
            return err("empty record");
        }
        if text.starts_with('{') || text.starts_with('[') {
            return self.decode_json(text, sender, scratch);
        }
        let message = split_header(text)?;
        let body = strip(message.body);
        if body.is_empty() {
            return err("empty message");
        }
        if body.starts_with('{') || body.starts_with('[') {
            // The project's JSON sent as a syslog message; an envelope is never taken from inside one.
            return self.decode_json(body, sender, None);
        }
        let fallback = match fallback {
            None if !message.timestamp.is_empty() => header_time(message.timestamp),
            other => other,
        };
        let ctx = Ctx {
            sender,
            hostname: message.hostname,
        };
        if body.starts_with("CEF:") {
            return self.cef(body, &ctx, fallback);
        }
        if self.panos_looks_like(body) {
            return self.panos(body, &ctx);
        }
        if !body.contains('=') {
            return err("no known format (neither JSON, CEF, PAN-OS CSV nor key=value)");
        }
        let (fields, _dups) = tokenize(body)?;
        for map in &self.formats.kv {
            let has = |k: &String| lookup(&fields, k).is_some();
            if map.require.iter().all(has)
                && !map.none_of.iter().any(has)
                && (map.any_of.is_empty() || map.any_of.iter().any(has))
            {
                let mut event = self.mapped(map, fields, &ctx, body, None)?;
                event.checked_keys = true;
                return Ok(event);
            }
        }
        err("key=value line of no known vendor (no type/devid nor log_type/device_id)")
    }

    fn panos_looks_like(&self, body: &str) -> bool {
        let head = prefix(body, 16);
        head.contains(',') && self.panos_start.is_match(body)
    }

    /// The neutral event of decoded fields by a vendor's field map.
    fn mapped<'a>(
        &'a self,
        map: &'a VendorMap,
        fields: Pairs<'a>,
        ctx: &Ctx<'a>,
        key_text: &'a str,
        fallback: Option<i64>,
    ) -> Res<Event<'a>> {
        let mut event = Event::new(&map.vendor, &map.format);
        event.sender = Cow::Borrowed(ctx.sender);
        event.fields = fields;
        event.key_text = Cow::Borrowed(key_text);
        let base = &map.event;
        let ordered = [Attr::Kind, Attr::Subtype, Attr::Serial, Attr::DeviceName];
        for attr in ordered {
            if let Some(a) = base.iter().find(|a| a.attr == attr) {
                let v = self.value(map, &a.sources, &event, ctx);
                set_attr(&mut event, attr, v);
            }
        }
        if !map.kind_aliases.is_empty() {
            if let Some(alias) = map.kind_aliases.get(event.get(Attr::Kind)) {
                event.attrs[Attr::Kind as usize] = Cow::Borrowed(alias);
            }
        }
        if let Some(max) = map.subtype_max {
            let s = event.get(Attr::Subtype);
            if char_len(s) > max {
                event.attrs[Attr::Subtype as usize] = Cow::Owned(prefix(s, max).to_string());
            }
        }
        if let Some(reason) = &map.missing_kind {
            if event.get(Attr::Kind).is_empty() {
                return err(reason.clone());
            }
        }
        if event.get(Attr::Serial).is_empty()
            && event.get(Attr::DeviceName).is_empty()
            && ctx.sender.is_empty()
        {
            return err(map.no_identity.clone());
        }
        event.occurred_at = self.time(map, &event.fields, fallback)?;
        for a in base {
            if !ordered.contains(&a.attr) {
                let v = self.value(map, &a.sources, &event, ctx);
                set_attr(&mut event, a.attr, v);
            }
        }
        for entry in &map.logs {
            if self.holds(entry, &event) {
                self.apply(map, entry, &mut event, ctx)?;
                break;
            }
        }
        Ok(event)
    }

    fn apply<'a>(
        &'a self,
        map: &'a VendorMap,
        entry: &'a Entry,
        event: &mut Event<'a>,
        ctx: &Ctx<'a>,
    ) -> Res<()> {
        if let Some(reason) = &entry.reject {
            return err(reason.clone());
        }
        for a in &entry.set {
            let v = self.value(map, &a.sources, event, ctx);
            set_attr(event, a.attr, v);
        }
        for sub in &entry.then {
            if self.holds(sub, event) {
                self.apply(map, sub, event, ctx)?;
            }
        }
        Ok(())
    }

    fn holds(&self, entry: &Entry, event: &Event<'_>) -> bool {
        entry.when.iter().all(|c| cond(c, event))
            && (entry.when_any.is_empty() || entry.when_any.iter().any(|c| cond(c, event)))
    }

    fn value<'a>(
        &'a self,
        map: &'a VendorMap,
        sources: &'a [Source],
        event: &Event<'a>,
        ctx: &Ctx<'a>,
    ) -> Cow<'a, str> {
        for s in sources {
            let v: Cow<'a, str> = match s {
                Source::Field(name, low) => {
                    let v = get(&event.fields, name);
                    if *low {
                        lower(v)
                    } else {
                        v
                    }
                }
                Source::Hostname => Cow::Borrowed(ctx.hostname),
                Source::Attr(a) => event.attrs[*a as usize].clone(),
                Source::Literal(pieces) => {
                    let mut out = String::new();
                    for (text, attr) in pieces {
                        match attr {
                            Some(a) => out.push_str(event.get(*a)),
                            None => out.push_str(text),
                        }
                    }
                    let stripped = strip(&out);
                    Cow::Owned(stripped.to_string())
                }
                Source::UrlJoin(a, b) => {
                    let (x, y) = (get(&event.fields, a), get(&event.fields, b));
                    if !x.is_empty() && y.starts_with('/') {
                        Cow::Owned(format!("{x}{y}"))
                    } else {
                        Cow::Borrowed("")
                    }
                }
                Source::Table(field, t) => {
                    let v = get(&event.fields, field);
                    match map.tables[*t].get(&*v) {
                        Some(x) => Cow::Borrowed(x.as_str()),
                        None => Cow::Borrowed(""),
                    }
                }
            };
            if !v.is_empty() {
                return v;
            }
        }
        Cow::Borrowed("")
    }

    fn time(&self, map: &VendorMap, fields: &Pairs<'_>, fallback: Option<i64>) -> Res<i64> {
        let spec = &map.time;
        if let Some(key) = &spec.epoch {
            let v = get(fields, key);
            if !v.is_empty() {
                return from_epoch(&v, key);
            }
        }
        if let Some(key) = &spec.iso {
            let v = get(fields, key);
            if !v.is_empty() {
                let t = parse_iso(&v).ok_or_else(|| DecodeError(format!("invalid {key}")))?;
                return in_range(t.utc_us(DEFAULT_OFFSET_S), key);
            }
        }
        if !spec.cef.is_empty() {
            for key in &spec.cef {
                let v = get(fields, key);
                let v = strip(&v);
                if !v.is_empty() {
                    let dtz = spec
                        .zone
                        .as_deref()
                        .map(|z| get(fields, z))
                        .unwrap_or_default();
                    return self.cef_time(v, &dtz, key);
                }
            }
            return fallback.ok_or_else(|| {
                DecodeError("no event time (rt, end, start or a syslog time)".into())
            });
        }
        if !spec.generated.is_empty() {
            let g = spec
                .generated
                .iter()
                .map(|k| get(fields, k))
                .find(|v| !v.is_empty())
                .unwrap_or_default();
            return local_time(prefix(&g, 10), from_char(&g, 11), JST, &spec.what);
        }
        let (date, time) = match (&spec.date, &spec.time) {
            (Some(d), Some(t)) => (get(fields, d), get(fields, t)),
            _ => return err("no time field in the formats file"),
        };
        if date.is_empty() || time.is_empty() {
            return err("missing date/time");
        }
        let zone_text = spec
            .zone
            .as_deref()
            .map(|z| get(fields, z))
            .unwrap_or_default();
        let zone = if spec.named_zones {
            named_zone(&zone_text, &self.formats.zone_names)?
        } else if zone_text.is_empty() {
            JST
        } else {
            offset_zone(&zone_text)?
        };
        local_time(&date, &time, zone, &spec.what)
    }

    fn cef_time(&self, value: &str, dtz: &str, key: &str) -> Res<i64> {
        if value.bytes().all(|b| b.is_ascii_digit()) {
            return from_epoch(value, key);
        }
        let bad = || DecodeError(format!("invalid {key}"));
        let parts: Vec<&str> = value.split(' ').collect();
        if parts.len() < 4 {
            return Err(bad());
        }
        let month = MONTHS
            .iter()
            .position(|m| *m == parts[0].to_lowercase())
            .ok_or_else(bad)? as u32
            + 1;
        let zone = if parts.len() > 4 {
            named_zone(parts[4], &self.formats.zone_names)?
        } else if !dtz.is_empty() {
            named_zone(dtz, &self.formats.zone_names)?
        } else {
            JST
        };
        let clock = prefix(parts[3], 8);
        let hms: Vec<&str> = clock.split(':').collect();
        if hms.len() != 3
            || hms
                .iter()
                .any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let num = |s: &str| -> Res<i64> {
            let t = strip(s);
            let t = t.strip_prefix('+').unwrap_or(t);
            if t.is_empty() || t.len() > 9 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse().map_err(|_| bad())
        };
        let (year, day) = (num(parts[2])?, num(parts[1])?);
        let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day as u32)
            .filter(|_| year >= 1)
            .ok_or_else(bad)?;
        let t = chrono::NaiveTime::from_hms_opt(
            hms[0].parse().unwrap(),
            hms[1].parse().unwrap(),
            hms[2].parse().unwrap(),
        )
        .ok_or_else(bad)?;
        in_range(zoned(date.and_time(t), zone), key)
    }

    fn cef<'a>(&'a self, body: &'a str, ctx: &Ctx<'a>, fallback: Option<i64>) -> Res<Event<'a>> {
        let f = &self.formats;
        let after = &body[4..];
        let mut header: Vec<Cow<'a, str>> = Vec::with_capacity(7);
        let mut rest = "";
        let fast: Vec<&str> = after.splitn(8, '|').collect();
        if fast.len() == 8 && !body[..body.len() - fast[7].len()].contains('\\') {
            header.extend(fast[..7].iter().map(|s| Cow::Borrowed(*s)));
            rest = fast[7];
        } else {
            let b = body.as_bytes();
            let mut pos = 4;
            while header.len() < 7 {
                let mut i = pos;
                let mut found = None;
                while i < b.len() {
                    match b[i] {
                        b'|' => {
                            found = Some(i);
                            break;
                        }
                        b'\\' => {
                            if i + 1 >= b.len() {
                                break;
                            }
                            i += 1 + body[i + 1..].chars().next().map_or(1, char::len_utf8);
                        }
                        _ => i += 1,
                    }
                }
                let Some(end) = found else {
                    return err(format!(
                        "CEF header with {} fields, 8 expected",
                        header.len() + 1
                    ));
                };
                let field = &body[pos..end];
                header.push(if field.contains('\\') {
                    Cow::Owned(unescape_backslashes(field))
                } else {
                    Cow::Borrowed(field)
                });
                pos = end + 1;
                rest = &body[pos..];
            }
        }
        let version = &header[0];
        if version != "0" && version != "1" {
            return err(format!(
                "unsupported CEF version {}",
                py_repr(prefix(version, 8))
            ));
        }
        let ext = cef_extension(rest)?;
        let mut fields: Pairs<'a> = Pairs::with_capacity(ext.len() + 6);
        for (name, value) in f.cef_header.iter().zip(header.iter().skip(1)) {
            fields.push_first(Cow::Borrowed(name.as_str()), value.clone());
        }
        for (k, v) in ext {
            fields.push_first(k, v);
        }
        let severity = header[6].clone();
        let mut event = self.mapped(&f.cef, fields, ctx, body, fallback)?;
        event.attrs[Attr::Level as usize] = Cow::Owned(self.cef_level(&severity)?);
        Ok(event)
    }

    fn cef_level(&self, severity: &str) -> Res<String> {
        let word = strip(severity).to_lowercase();
        if self.formats.cef_level_words.contains(&word) {
            return Ok(word);
        }
        let bad = || {
            DecodeError(format!(
                "invalid CEF severity {}",
                py_repr(prefix(severity, 16))
            ))
        };
        if word.is_empty() || word.len() > 4 || !word.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: usize = word.parse().map_err(|_| bad())?;
        self.formats
            .cef_level_numbers
            .get(n)
            .cloned()
            .ok_or_else(bad)
    }

    fn panos<'a>(&'a self, body: &'a str, ctx: &Ctx<'a>) -> Res<Event<'a>> {
        if body.contains('\0') {
            return err("NUL byte in a CSV log");
        }
        let row = csv_row(body).map_err(|e| DecodeError(format!("malformed CSV: {e}")))?;
        let log_type = row.get(3).map(|s| s.to_lowercase()).unwrap_or_default();
        let f = &self.formats;
        let Some(spec) = f.panos_types.get(&log_type) else {
            return err(format!(
                "unsupported PAN-OS log type {}",
                py_repr(prefix(&log_type, 32))
            ));
        };
        if row.len() < spec.min_fields {
            return err(format!(
                "{} log with {} fields, at least {} expected",
                log_type.to_uppercase(),
                row.len(),
                spec.min_fields
            ));
        }
        let mut fields: Pairs<'a> = Pairs::with_capacity(f.panos_common.len() + spec.names.len());
        for (pos, name) in f.panos_common.iter().chain(spec.names.iter()) {
            if let Some(v) = row.get(*pos) {
                fields.set(Cow::Borrowed(name.as_str()), v.clone());
            }
        }
        self.mapped(&f.panos, fields, ctx, body, None)
    }

    // --- JSON ---

    /// `scratch`: where a collector envelope's texts are kept; None where no envelope is allowed.
    fn decode_json<'a>(
        &'a self,
        text: &'a str,
        sender: &'a str,
        scratch: Option<&'a mut Scratch>,
    ) -> Res<Event<'a>> {
        check_depth(text)?;
        let data: Value = serde_json::from_str(text).map_err(|e| {
            let m = e.to_string();
            DecodeError(format!("invalid JSON: {}", prefix(&m, 80)))
        })?;
        if has_huge_integer(&data) {
            return err(
                "invalid JSON: Exceeds the limit (4300 digits) for integer string conversion",
            );
        }
        let Value::Object(map) = data else {
            return err("JSON record is not an object");
        };
        let looks_utm = map.contains_key("serial_number")
            || map.get("format").and_then(Value::as_str) == Some("watch.utm-event");
        if map.get("src").and_then(Value::as_str) == Some("syslog")
            && map.contains_key("msg")
            && !looks_utm
        {
            return match scratch {
                Some(scratch) => self.envelope(map, scratch),
                None => err("collector envelope inside a syslog message"),
            };
        }
        if looks_utm {
            return utm_json(map, sender);
        }
        err("JSON object is neither a UtmEvent nor a collector envelope")
    }

    fn envelope<'a>(
        &'a self,
        mut map: serde_json::Map<String, Value>,
        scratch: &'a mut Scratch,
    ) -> Res<Event<'a>> {
        match map.get("v") {
            Some(Value::Number(n))
                if n.as_i64() == Some(1) && !n.to_string().contains(['.', 'e', 'E']) => {}
            _ => return err("unsupported envelope version"),
        }
        for key in ["host", "hostname", "received", "msg"] {
            if let Some(v) = map.get(key) {
                if !v.is_string() {
                    return err(format!("envelope {key} is not a string"));
                }
            }
        }
        let mut take = |k: &str| match map.remove(k) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let received = take("received");
        scratch.msg = take("msg");
        scratch.host = take("host");
        scratch.hostname = take("hostname");
        let fallback = if received.is_empty() {
            None
        } else {
            header_time(&received)
        };
        let s: &'a Scratch = scratch;
        let mut event = self.decode_text(strip(&s.msg), &s.host, fallback, None)?;
        if event.get(Attr::DeviceName).is_empty() && !s.hostname.is_empty() {
            event.attrs[Attr::DeviceName as usize] = Cow::Borrowed(&s.hostname);
        }
        Ok(event)
    }
}

fn set_attr<'a>(event: &mut Event<'a>, attr: Attr, v: Cow<'a, str>) {
    event.attrs[attr as usize] = if attr.lowered() { lower(v) } else { v };
}

fn cond(c: &Cond, event: &Event<'_>) -> bool {
    let v: &str = match &c.key {
        Key::Attr(a) => event.get(*a),
        Key::Field(name) => lookup(&event.fields, name).map_or("", |v| v),
    };
    c.values.iter().any(|want| match want.as_str() {
        "*" => !v.is_empty(),
        "" => v.is_empty(),
        w => v.eq_ignore_ascii_case(w) || (!v.is_ascii() && v.to_lowercase() == w),
    })
}

/// Reject JSON nested deeper than MAX_JSON_DEPTH before parsing it (brackets outside strings).
fn check_depth(text: &str) -> Res<()> {
    let b = text.as_bytes();
    if b.iter().filter(|c| **c == b'{' || **c == b'[').count() <= MAX_JSON_DEPTH {
        return Ok(());
    }
    if exceeds_depth(b, MAX_JSON_DEPTH, true) {
        return err(format!("JSON nested deeper than {MAX_JSON_DEPTH}"));
    }
    Ok(())
}

/// Whether brackets outside JSON strings nest deeper than `limit`. `dotall`: a backslash escapes a
/// line break inside a string too.
pub fn exceeds_depth(b: &[u8], limit: usize, dotall: bool) -> bool {
    let mut depth: i64 = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                // A string: up to the closing quote, backslash escapes; none: the quote is skipped.
                let mut j = i + 1;
                let mut end = None;
                while j < b.len() {
                    match b[j] {
                        b'"' => {
                            end = Some(j);
                            break;
                        }
                        b'\\' => {
                            if j + 1 >= b.len() || (!dotall && b[j + 1] == b'\n') {
                                break;
                            }
                            j += 2;
                        }
                        _ => j += 1,
                    }
                }
                match end {
                    Some(e) => i = e + 1,
                    None => i += 1,
                }
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > limit as i64 {
                    return true;
                }
            }
            b'}' | b']' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Whether a JSON value holds an integer of more than 4300 digits (which Python refuses to read).
fn has_huge_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            let t = n.to_string();
            t.len() > 4300 && !t.contains(['.', 'e', 'E'])
        }
        Value::Array(items) => items.iter().any(has_huge_integer),
        Value::Object(map) => map.values().any(has_huge_integer),
        _ => false,
    }
}

fn json_string<'a>(
    map: &'a serde_json::Map<String, Value>,
    key: &str,
    required: bool,
) -> Res<&'a str> {
    match map.get(key) {
        None | Some(Value::Null) => {
            if required {
                err(format!("missing {key}"))
            } else {
                Ok("")
            }
        }
        Some(Value::String(s)) => {
            if required && s.is_empty() {
                err(format!("missing {key}"))
            } else {
                Ok(s)
            }
        }
        Some(_) => err(format!("{key} is not a string")),
    }
}

fn number_text(n: &serde_json::Number) -> String {
    let text = n.to_string();
    let int_like = {
        let t = text.strip_prefix('-').unwrap_or(&text);
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
    };
    if int_like {
        let negative = text.starts_with('-');
        let digits = text.trim_start_matches('-').trim_start_matches('0');
        if digits.len() > 30 {
            return "overflow".into();
        }
        if digits.is_empty() {
            return "0".into();
        }
        return if negative {
            format!("-{digits}")
        } else {
            digits.to_string()
        };
    }
    match text.parse::<f64>() {
        Ok(v) if v.abs() < 1e30 => py_float(v),
        _ => "overflow".into(),
    }
}

const UTM_KINDS: [&str; 7] = [
    "heartbeat",
    "traffic",
    "webfilter",
    "virus",
    "ips",
    "app-ctrl",
    "botnet",
];

/// The neutral event of the project's own JSON (`watch.utm-event` version 1), every field type-checked.
fn utm_json<'a>(map: serde_json::Map<String, Value>, sender: &'a str) -> Res<Event<'a>> {
    match map.get("format") {
        None => {}
        Some(Value::String(s)) if s == "watch.utm-event" => {}
        _ => return err("unknown format"),
    }
    match map.get("version") {
        None => {}
        Some(Value::Number(n))
            if n.as_i64() == Some(1) && !n.to_string().contains(['.', 'e', 'E']) => {}
        _ => return err("unsupported version"),
    }
    let serial = json_string(&map, "serial_number", true)?.to_string();
    let event_id = json_string(&map, "event_id", true)?.to_string();
    let kind = json_string(&map, "kind", true)?.to_string();
    if !UTM_KINDS.contains(&kind.as_str()) {
        return err("unknown kind");
    }
    let occurred = json_string(&map, "occurred_at", true)?;
    let moment = parse_iso(occurred).ok_or_else(|| DecodeError("invalid occurred_at".into()))?;
    let Some(offset) = moment.offset_s else {
        return err("occurred_at has no time zone");
    };
    let mut texts: Vec<String> = Vec::with_capacity(6);
    for key in ["action", "level", "signature", "src_ip", "dst_ip", "url"] {
        match map.get(key) {
            None | Some(Value::Null) => texts.push(String::new()),
            Some(Value::String(s)) => texts.push(s.clone()),
            Some(_) => return err(format!("{key} is not a string")),
        }
    }
    let mut fields: Pairs<'a> = Pairs::with_capacity(8);
    match map.get("details") {
        None | Some(Value::Null) => {}
        Some(Value::Object(d)) => {
            for (k, v) in d {
                let text = match v {
                    Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    Value::Number(n) => number_text(n),
                    _ => return err(format!("details.{} is not a scalar", prefix(k, 32))),
                };
                fields.push_first(Cow::Owned(k.clone()), Cow::Owned(text));
            }
        }
        Some(_) => return err("details is not an object"),
    }
    let occurred_at = in_range(moment.local_us - offset as i64 * 1_000_000, "occurred_at")?;
    let mut event = Event::new("watch", "utm-event-json");
    event.occurred_at = occurred_at;
    event.sender = Cow::Borrowed(sender);
    let field = |name: &str| get(&fields, name).into_owned();
    let (group, user, message) = (field("group"), field("user"), field("msg"));
    let mut texts = texts.into_iter();
    let mut next = || Cow::Owned(texts.next().unwrap_or_default());
    event.attrs[Attr::Kind as usize] = Cow::Owned(kind);
    event.attrs[Attr::Serial as usize] = Cow::Owned(serial);
    event.attrs[Attr::Action as usize] = lower(next());
    event.attrs[Attr::Level as usize] = lower(next());
    event.attrs[Attr::Signature as usize] = next();
    event.attrs[Attr::SrcIp as usize] = next();
    event.attrs[Attr::DstIp as usize] = next();
    event.attrs[Attr::Url as usize] = next();
    event.attrs[Attr::Group as usize] = Cow::Owned(group);
    event.attrs[Attr::User as usize] = Cow::Owned(user);
    event.attrs[Attr::Message as usize] = Cow::Owned(message);
    event.event_key = Some(event_id);
    event.fields = fields;
    Ok(event)
}

/// One CSV row as Python's `csv.reader(..., strict=True)` reads it.
fn csv_row(body: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let b = body.as_bytes();
    let mut row = Vec::with_capacity(72);
    let mut i = 0;
    loop {
        if i < b.len() && b[i] == b'"' {
            let mut value = String::new();
            let mut j = i + 1;
            let mut start = j;
            loop {
                if j >= b.len() {
                    return Err("unexpected end of data".into());
                }
                if b[j] == b'"' {
                    if b.get(j + 1) == Some(&b'"') {
                        value.push_str(&body[start..j + 1]);
                        j += 2;
                        start = j;
                        continue;
                    }
                    value.push_str(&body[start..j]);
                    j += 1;
                    break;
                }
                j += 1;
            }
            match b.get(j) {
                None => {
                    row.push(Cow::Owned(value));
                    return Ok(row);
                }
                Some(b',') => {
                    row.push(Cow::Owned(value));
                    i = j + 1;
                }
                Some(_) => return Err("',' expected after '\"'".into()),
            }
        } else {
            let mut j = i;
            while j < b.len() && b[j] != b',' {
                if b[j] == b'\n' || b[j] == b'\r' {
                    return Err("new-line character seen in unquoted field - do you need to open the file in universal-newline mode?".into());
                }
                j += 1;
            }
            row.push(Cow::Borrowed(&body[i..j]));
            if j >= b.len() {
                return Ok(row);
            }
            i = j + 1;
        }
    }
}
