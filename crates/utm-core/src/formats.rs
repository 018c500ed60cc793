//! The vendor field maps of formats.toml: which source field gives which field of the neutral event.

use std::collections::{HashMap, HashSet};

use toml::{Table, Value};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Attr {
    Kind = 0,
    Subtype,
    Serial,
    DeviceName,
    Action,
    Level,
    Signature,
    Group,
    SrcIp,
    DstIp,
    Url,
    User,
    Message,
}

pub const ATTRS: [(&str, Attr); 13] = [
    ("kind", Attr::Kind),
    ("subtype", Attr::Subtype),
    ("serial", Attr::Serial),
    ("device_name", Attr::DeviceName),
    ("action", Attr::Action),
    ("level", Attr::Level),
    ("signature", Attr::Signature),
    ("group", Attr::Group),
    ("src_ip", Attr::SrcIp),
    ("dst_ip", Attr::DstIp),
    ("url", Attr::Url),
    ("user", Attr::User),
    ("message", Attr::Message),
];

impl Attr {
    pub fn lowered(self) -> bool {
        matches!(
            self,
            Attr::Kind | Attr::Subtype | Attr::Action | Attr::Level
        )
    }
}

fn attr_of(name: &str) -> Option<Attr> {
    ATTRS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

#[derive(Debug)]
pub enum Source {
    Field(String, bool),
    Hostname,
    Attr(Attr),
    /// Literal pieces: (text, None) or (_, Some(attr)) for a `{attr}` placeholder.
    Literal(Vec<(String, Option<Attr>)>),
    UrlJoin(String, String),
    Table(String, usize),
}

#[derive(Debug)]
pub struct Assign {
    pub attr: Attr,
    pub sources: Vec<Source>,
}

#[derive(Debug)]
pub enum Key {
    Field(String),
    Attr(Attr),
}

#[derive(Debug)]
pub struct Cond {
    pub key: Key,
    pub values: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Entry {
    pub when: Vec<Cond>,
    pub when_any: Vec<Cond>,
    pub reject: Option<String>,
    pub set: Vec<Assign>,
    pub then: Vec<Entry>,
}

#[derive(Debug, Default)]
pub struct TimeSpec {
    pub epoch: Option<String>,
    pub iso: Option<String>,
    pub cef: Vec<String>,
    pub generated: Vec<String>,
    pub what: String,
    pub date: Option<String>,
    pub time: Option<String>,
    pub zone: Option<String>,
    pub named_zones: bool,
}

#[derive(Debug, Default)]
pub struct VendorMap {
    pub vendor: String,
    pub format: String,
    pub require: Vec<String>,
    pub any_of: Vec<String>,
    pub none_of: Vec<String>,
    pub kind_aliases: HashMap<String, String>,
    pub missing_kind: Option<String>,
    pub no_identity: String,
    pub subtype_max: Option<usize>,
    pub time: TimeSpec,
    pub event: Vec<Assign>,
    pub logs: Vec<Entry>,
    pub tables: Vec<HashMap<String, String>>,
}

#[derive(Debug, Default)]
pub struct PanType {
    pub min_fields: usize,
    pub names: Vec<(usize, String)>,
}

#[derive(Debug, Default)]
pub struct Formats {
    pub blocking: HashSet<String>,
    pub zone_names: HashMap<String, i32>,
    pub kv: Vec<VendorMap>,
    pub panos: VendorMap,
    pub panos_common: Vec<(usize, String)>,
    pub panos_types: HashMap<String, PanType>,
    pub cef: VendorMap,
    pub cef_header: Vec<String>,
    pub cef_level_words: Vec<String>,
    pub cef_level_numbers: Vec<String>,
}

type R<T> = Result<T, String>;

fn table<'a>(t: &'a Table, key: &str, at: &str) -> R<&'a Table> {
    match t.get(key) {
        Some(Value::Table(x)) => Ok(x),
        _ => Err(format!("formats: [{at}{key}] must be a table")),
    }
}

fn opt_table<'a>(t: &'a Table, key: &str, at: &str) -> R<Option<&'a Table>> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::Table(x)) => Ok(Some(x)),
        _ => Err(format!("formats: {at}{key} must be a table")),
    }
}

fn string(t: &Table, key: &str, at: &str) -> R<String> {
    match t.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("formats: {at}{key} must be a string")),
    }
}

fn opt_string(t: &Table, key: &str, at: &str) -> R<Option<String>> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        _ => Err(format!("formats: {at}{key} must be a string")),
    }
}

fn strings(v: Option<&Value>, what: &str) -> R<Vec<String>> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => Err(format!("formats: {what} must be a list of strings")),
            })
            .collect(),
        _ => Err(format!("formats: {what} must be a list of strings")),
    }
}

fn source(text: &str, tables: &HashMap<String, usize>, what: &str) -> R<Source> {
    if text == "@hostname" {
        return Ok(Source::Hostname);
    }
    if let Some(name) = text.strip_prefix('$') {
        return attr_of(name)
            .map(Source::Attr)
            .ok_or_else(|| format!("formats: {what}: unknown attribute {name:?}"));
    }
    if let Some(lit) = text.strip_prefix('=') {
        let mut pieces = Vec::new();
        let mut rest = lit;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("formats: {what}: unclosed {{ in {text:?}"))?
                + open;
            pieces.push((rest[..open].to_string(), None));
            let name = &rest[open + 1..close];
            let attr = attr_of(name)
                .ok_or_else(|| format!("formats: {what}: unknown attribute {name:?}"))?;
            pieces.push((String::new(), Some(attr)));
            rest = &rest[close + 1..];
        }
        pieces.push((rest.to_string(), None));
        return Ok(Source::Literal(pieces));
    }
    if let Some((a, b)) = text.split_once('+') {
        return Ok(Source::UrlJoin(a.to_string(), b.to_string()));
    }
    if let Some((field, t)) = text.split_once('#') {
        let index = tables
            .get(t)
            .ok_or_else(|| format!("formats: {what}: unknown table {t:?}"))?;
        return Ok(Source::Table(field.to_string(), *index));
    }
    if let Some(field) = text.strip_suffix("|lower") {
        return Ok(Source::Field(field.to_string(), true));
    }
    if text.is_empty() {
        return Err(format!("formats: {what}: empty source"));
    }
    Ok(Source::Field(text.to_string(), false))
}

fn assigns(t: &Table, tables: &HashMap<String, usize>, what: &str) -> R<Vec<Assign>> {
    let mut out = Vec::new();
    for (name, attr) in ATTRS {
        if let Some(v) = t.get(name) {
            let list = strings(Some(v), &format!("{what}.{name}"))?;
            let sources = list
                .iter()
                .map(|s| source(s, tables, &format!("{what}.{name}")))
                .collect::<R<Vec<_>>>()?;
            out.push(Assign { attr, sources });
        }
    }
    if let Some(unknown) = t.keys().find(|k| attr_of(k).is_none()) {
        return Err(format!("formats: {what}: unknown attribute {unknown:?}"));
    }
    Ok(out)
}

fn conds(t: Option<&Table>, what: &str) -> R<Vec<Cond>> {
    let mut out = Vec::new();
    if let Some(t) = t {
        for (key, v) in t {
            let key = match key.strip_prefix('$') {
                Some(name) => Key::Attr(
                    attr_of(name)
                        .ok_or_else(|| format!("formats: {what}: unknown attribute {name:?}"))?,
                ),
                None => Key::Field(key.clone()),
            };
            let values = strings(Some(v), what)?
                .into_iter()
                .map(|s| s.to_lowercase())
                .collect();
            out.push(Cond { key, values });
        }
    }
    Ok(out)
}

fn entry(t: &Table, tables: &HashMap<String, usize>, what: &str) -> R<Entry> {
    for key in t.keys() {
        if !["when", "when_any", "reject", "set", "then"].contains(&key.as_str()) {
            return Err(format!("formats: {what}: unknown key {key:?}"));
        }
    }
    let set = match opt_table(t, "set", what)? {
        Some(s) => assigns(s, tables, &format!("{what}.set"))?,
        None => Vec::new(),
    };
    let mut then = Vec::new();
    match t.get("then") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Table(x) => then.push(entry(x, tables, &format!("{what}.then[{i}]"))?),
                    _ => return Err(format!("formats: {what}.then must be a list of tables")),
                }
            }
        }
        _ => return Err(format!("formats: {what}.then must be a list of tables")),
    }
    Ok(Entry {
        when: conds(opt_table(t, "when", what)?, what)?,
        when_any: conds(opt_table(t, "when_any", what)?, what)?,
        reject: opt_string(t, "reject", what)?,
        set,
        then,
    })
}

fn vendor_map(root: &Table, name: &str) -> R<VendorMap> {
    let t = table(root, name, "")?;
    let at = format!("{name}.");
    let mut tables = HashMap::new();
    let mut table_list = Vec::new();
    if let Some(ts) = opt_table(t, "tables", &at)? {
        for (tname, v) in ts {
            let Value::Table(entries) = v else {
                return Err(format!("formats: {name}.tables.{tname} must be a table"));
            };
            let mut map = HashMap::new();
            for (k, v) in entries {
                let Value::String(s) = v else {
                    return Err(format!(
                        "formats: {name}.tables.{tname}.{k} must be a string"
                    ));
                };
                map.insert(k.clone(), s.clone());
            }
            tables.insert(tname.clone(), table_list.len());
            table_list.push(map);
        }
    }
    let mut time = TimeSpec::default();
    if let Some(tt) = opt_table(t, "time", &at)? {
        let at = format!("{name}.time.");
        time.epoch = opt_string(tt, "epoch", &at)?;
        time.iso = opt_string(tt, "iso", &at)?;
        time.cef = strings(tt.get("cef"), &format!("{at}cef"))?;
        time.generated = strings(tt.get("generated"), &format!("{at}generated"))?;
        time.what = opt_string(tt, "what", &at)?.unwrap_or_else(|| "date/time".into());
        time.date = opt_string(tt, "date", &at)?;
        time.time = opt_string(tt, "time", &at)?;
        time.zone = opt_string(tt, "zone", &at)?;
        time.named_zones = match opt_string(tt, "zone_style", &at)?.as_deref() {
            None | Some("offset") => false,
            Some("named") => true,
            Some(other) => {
                return Err(format!(
                    "formats: {at}zone_style {other:?}: offset or named expected"
                ))
            }
        };
    }
    let mut kind_aliases = HashMap::new();
    if let Some(a) = opt_table(t, "kind_aliases", &at)? {
        for (k, v) in a {
            let Value::String(s) = v else {
                return Err(format!("formats: {name}.kind_aliases.{k} must be a string"));
            };
            kind_aliases.insert(k.to_lowercase(), s.to_lowercase());
        }
    }
    let mut logs = Vec::new();
    match t.get("logs") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Table(x) => logs.push(entry(x, &tables, &format!("{name}.logs[{i}]"))?),
                    _ => return Err(format!("formats: {name}.logs must be a list of tables")),
                }
            }
        }
        _ => return Err(format!("formats: {name}.logs must be a list of tables")),
    }
    let subtype_max = match t.get("subtype_max") {
        None => None,
        Some(Value::Integer(n)) if *n > 0 => Some(*n as usize),
        _ => {
            return Err(format!(
                "formats: {name}.subtype_max must be a positive integer"
            ))
        }
    };
    Ok(VendorMap {
        vendor: string(t, "vendor", &at)?,
        format: string(t, "format", &at)?,
        require: strings(t.get("require"), &format!("{at}require"))?,
        any_of: strings(t.get("any_of"), &format!("{at}any_of"))?,
        none_of: strings(t.get("none_of"), &format!("{at}none_of"))?,
        kind_aliases,
        missing_kind: opt_string(t, "missing_kind", &at)?,
        no_identity: string(t, "no_identity", &at)?,
        subtype_max,
        time,
        event: assigns(table(t, "event", &at)?, &tables, &format!("{name}.event"))?,
        logs,
        tables: table_list,
    })
}

fn positions(t: &Table, what: &str) -> R<Vec<(usize, String)>> {
    let mut out = Vec::new();
    for (k, v) in t {
        if k == "min_fields" {
            continue;
        }
        let pos: usize = k
            .parse()
            .map_err(|_| format!("formats: {what}.{k}: a position number expected"))?;
        let Value::String(s) = v else {
            return Err(format!("formats: {what}.{k} must be a string"));
        };
        out.push((pos, s.clone()));
    }
    out.sort_by_key(|(p, _)| *p);
    Ok(out)
}

pub fn parse(text: &str) -> R<Formats> {
    let root: Table = text
        .parse()
        .map_err(|e| format!("formats file is not valid TOML: {e}"))?;
    let mut f = Formats {
        blocking: strings(root.get("blocking_actions"), "blocking_actions")?
            .into_iter()
            .map(|s| s.to_lowercase())
            .collect(),
        ..Default::default()
    };
    for (k, v) in table(&root, "zone_names", "")? {
        let Value::Integer(m) = v else {
            return Err(format!(
                "formats: zone_names.{k} must be a number of minutes"
            ));
        };
        f.zone_names.insert(k.to_uppercase(), *m as i32);
    }
    f.kv = vec![
        vendor_map(&root, "fortigate")?,
        vendor_map(&root, "sophos")?,
    ];
    for v in &f.kv {
        if v.require.is_empty() {
            return Err(format!(
                "formats: {}: require must name at least one field",
                v.vendor
            ));
        }
    }
    f.panos = vendor_map(&root, "panos")?;
    let p = table(&root, "panos", "")?;
    f.panos_common = positions(table(p, "common", "panos.")?, "panos.common")?;
    for (name, v) in table(p, "types", "panos.")? {
        let Value::Table(t) = v else {
            return Err(format!("formats: panos.types.{name} must be a table"));
        };
        let min_fields = match t.get("min_fields") {
            Some(Value::Integer(n)) if *n > 0 => *n as usize,
            _ => {
                return Err(format!(
                    "formats: panos.types.{name}.min_fields must be a positive integer"
                ))
            }
        };
        let names = positions(t, &format!("panos.types.{name}"))?;
        f.panos_types
            .insert(name.to_lowercase(), PanType { min_fields, names });
    }
    f.cef = vendor_map(&root, "cef")?;
    let c = table(&root, "cef", "")?;
    f.cef_header = strings(c.get("header"), "cef.header")?;
    if f.cef_header.len() != 6 {
        return Err("formats: cef.header must name the six header fields after the version".into());
    }
    f.cef_level_words = strings(c.get("level_words"), "cef.level_words")?;
    f.cef_level_numbers = strings(c.get("level_numbers"), "cef.level_numbers")?;
    if f.cef_level_numbers.len() != 11 {
        return Err("formats: cef.level_numbers must give the level of each severity 0-10".into());
    }
    Ok(f)
}
