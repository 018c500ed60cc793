//! The rule engine: the first rule of rules.toml whose conditions all hold gives category and severity.

use std::collections::{HashMap, HashSet};

use regex::Regex;
use toml::{Table, Value};

pub struct Rule {
    pub id: i64,
    pub category: String,
    pub severity: i64,
    vendor: Option<HashSet<String>>,
    kind: Option<HashSet<String>>,
    subtype: Option<HashSet<String>>,
    action: Option<HashSet<String>>,
    level: Option<HashSet<String>>,
    signature: Option<Regex>,
    group: Option<Regex>,
    matches: Option<Regex>,
    fields: Vec<(String, Regex)>,
}

/// What a rule looks at in an event.
pub struct View<'e> {
    pub vendor: &'e str,
    pub kind: &'e str,
    pub subtype: &'e str,
    pub action: &'e str,
    pub level: &'e str,
    pub signature: &'e str,
    pub group: &'e str,
}

fn has(set: &Option<HashSet<String>>, value: &str) -> bool {
    set.as_ref().is_none_or(|s| s.contains(value))
}

impl Rule {
    fn matches(&self, e: &View<'_>, field: &dyn Fn(&str) -> String) -> bool {
        has(&self.kind, e.kind)
            && has(&self.subtype, e.subtype)
            && has(&self.action, e.action)
            && has(&self.level, e.level)
            && self
                .signature
                .as_ref()
                .is_none_or(|p| p.is_match(e.signature))
            && self.group.as_ref().is_none_or(|p| p.is_match(e.group))
            && self
                .matches
                .as_ref()
                .is_none_or(|p| p.is_match(&format!("{} {}", e.signature, e.group)))
            && self.fields.iter().all(|(name, p)| p.is_match(&field(name)))
    }
}

pub struct Rules {
    pub rules: Vec<Rule>,
    by_vendor: HashMap<String, Vec<usize>>,
    any_vendor: Vec<usize>,
    pub reads_fields: bool,
}

fn set_of(v: Option<&Value>, what: &str, id: i64) -> Result<Option<HashSet<String>>, String> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some([s.to_lowercase()].into_iter().collect())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.to_lowercase()),
                _ => Err(format!(
                    "rule {id}: {what} must be a string or a list of strings"
                )),
            })
            .collect::<Result<HashSet<_>, _>>()
            .map(Some),
        _ => Err(format!(
            "rule {id}: {what} must be a string or a list of strings"
        )),
    }
}

fn pattern(v: Option<&Value>, what: &str, id: i64) -> Result<Option<Regex>, String> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Regex::new(&format!("(?i){s}"))
            .map(Some)
            .map_err(|e| format!("rule {id}: invalid {what} pattern {s:?}: {e}")),
        _ => Err(format!(
            "rule {id}: {what} must be a regular expression string"
        )),
    }
}

impl Rules {
    pub fn parse(text: &str) -> Result<Rules, String> {
        let root: Table = text
            .parse()
            .map_err(|e| format!("rules file is not valid TOML: {e}"))?;
        let items = match root.get("rules") {
            Some(Value::Array(items)) => items,
            _ => return Err("rules file has no [[rules]]".into()),
        };
        let mut rules = Vec::with_capacity(items.len());
        for item in items {
            let Value::Table(t) = item else {
                return Err("[[rules]] entries must be tables".into());
            };
            let id = match t.get("id") {
                Some(Value::Integer(n)) => *n,
                _ => return Err("a rule has no numeric id".into()),
            };
            let category = match t.get("category") {
                Some(Value::String(s)) => s.clone(),
                _ => return Err(format!("rule {id} has no category")),
            };
            let severity = match t.get("severity") {
                Some(Value::Integer(n)) if (0..=3).contains(n) => *n,
                _ => return Err(format!("rule {id} has no severity 0-3")),
            };
            let mut fields = Vec::new();
            if let Some(f) = t.get("fields") {
                let Value::Table(f) = f else {
                    return Err(format!("rule {id}: fields must be a table"));
                };
                for (name, v) in f {
                    if let Some(p) = pattern(Some(v), &format!("fields.{name}"), id)? {
                        fields.push((name.clone(), p));
                    }
                }
            }
            rules.push(Rule {
                id,
                category,
                severity,
                vendor: set_of(t.get("vendor"), "vendor", id)?,
                kind: set_of(t.get("kind"), "kind", id)?,
                subtype: set_of(t.get("subtype"), "subtype", id)?,
                action: set_of(t.get("action"), "action", id)?,
                level: set_of(t.get("level"), "level", id)?,
                signature: pattern(t.get("signature"), "signature", id)?,
                group: pattern(t.get("group"), "group", id)?,
                matches: pattern(t.get("match"), "match", id)?,
                fields,
            });
        }
        let last_is_catch_all = rules.last().is_some_and(|r| {
            r.vendor.is_none()
                && r.kind.is_none()
                && r.subtype.is_none()
                && r.action.is_none()
                && r.level.is_none()
                && r.signature.is_none()
                && r.group.is_none()
                && r.matches.is_none()
                && r.fields.is_empty()
        });
        if !last_is_catch_all {
            return Err(
                "the last rule must have no conditions so that every event is classified".into(),
            );
        }
        let mut by_vendor: HashMap<String, Vec<usize>> = HashMap::new();
        let vendors: HashSet<String> = rules
            .iter()
            .filter_map(|r| r.vendor.clone())
            .flatten()
            .collect();
        for v in vendors {
            let list = (0..rules.len())
                .filter(|i| has(&rules[*i].vendor, &v))
                .collect();
            by_vendor.insert(v, list);
        }
        let any_vendor = (0..rules.len())
            .filter(|i| rules[*i].vendor.is_none())
            .collect();
        let reads_fields = rules.iter().any(|r| !r.fields.is_empty());
        Ok(Rules {
            rules,
            by_vendor,
            any_vendor,
            reads_fields,
        })
    }

    /// The index of the first rule that holds for an event.
    pub fn first(&self, e: &View<'_>, field: &dyn Fn(&str) -> String) -> usize {
        let list = self.by_vendor.get(e.vendor).unwrap_or(&self.any_vendor);
        for i in list {
            if self.rules[*i].matches(e, field) {
                return *i;
            }
        }
        self.rules.len() - 1
    }
}
