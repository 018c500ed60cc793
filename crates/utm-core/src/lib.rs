//! utm_core: the alert pipeline's compiled core. Decodes raw UTM log records of every vendor format
//! into neutral events (field maps of formats.toml), classifies them by the rules of rules.toml and
//! counts a whole batch without running Python per record.

mod decode;
mod formats;
mod rules;
mod util;

use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use decode::{Decoder, Event, Scratch};
use formats::{Attr, ATTRS};
use rules::{Rules, View};
use util::{isoformat_utc, DecodeError};

/// 2000-01-01T00:00Z: an earlier device time is a clock that was reset.
const EARLIEST_PLAUSIBLE_US: i64 = 946_684_800_000_000;
const CLOCK_AHEAD_US: i64 = 86_400_000_000;
const HOUR_US: i64 = 3_600_000_000;

static DECODE_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();

fn decode_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    DECODE_ERROR
        .get_or_try_init(py, || -> PyResult<Py<PyType>> {
            let code = c"class DecodeError(ValueError):\n    \"\"\"A record no decoder understands; ``reason`` says why in a few words.\"\"\"\n\n    def __init__(self, reason):\n        super().__init__(reason)\n        self.reason = reason\n";
            let module = PyModule::from_code(py, code, c"utm_core_errors.py", c"utm_core_errors")?;
            let cls = module.getattr("DecodeError")?.downcast_into::<PyType>()?;
            cls.setattr("__module__", "utm_core")?;
            Ok(cls.unbind())
        })
        .map(|t| t.bind(py))
}

fn decode_err(py: Python<'_>, e: DecodeError) -> PyErr {
    match decode_error_type(py) {
        Ok(t) => PyErr::from_type(t.clone(), (e.0,)),
        Err(err) => err,
    }
}

struct Core {
    decoder: Decoder,
    rules: Rules,
}

/// An event that outlives its record's text (a threat of a batch).
struct Owned {
    vendor: String,
    format: String,
    occurred_at: i64,
    attrs: Vec<String>,
    sender: String,
    event_key: String,
    fields: Vec<(String, String)>,
}

fn owned(event: &Event<'_>) -> Owned {
    Owned {
        vendor: event.vendor.to_string(),
        format: event.format.to_string(),
        occurred_at: event.occurred_at,
        attrs: event.attrs.iter().map(|a| a.to_string()).collect(),
        sender: event.sender.to_string(),
        event_key: event.key(),
        fields: event
            .bounded_fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn event_dict<'py>(py: Python<'py>, e: &Owned) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("vendor", &e.vendor)?;
    d.set_item("format", &e.format)?;
    d.set_item("occurred_at", e.occurred_at)?;
    for (name, attr) in ATTRS {
        if attr == Attr::DeviceName {
            d.set_item("device_name", &e.attrs[attr as usize])?;
            d.set_item("sender", &e.sender)?;
            continue;
        }
        d.set_item(name, &e.attrs[attr as usize])?;
    }
    d.set_item("event_key", &e.event_key)?;
    let fields = PyDict::new(py);
    for (k, v) in &e.fields {
        fields.set_item(k, v)?;
    }
    d.set_item("fields", fields)?;
    Ok(d)
}

impl Core {
    fn classify(&self, event: &Event<'_>) -> usize {
        let view = View {
            vendor: event.vendor,
            kind: event.get(Attr::Kind),
            subtype: event.get(Attr::Subtype),
            action: event.get(Attr::Action),
            level: event.get(Attr::Level),
            signature: event.get(Attr::Signature),
            group: event.get(Attr::Group),
        };
        let field = |name: &str| -> String {
            event
                .bounded_fields()
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        self.rules.first(&view, &field)
    }

    fn outcome(&self, index: usize, action: &str) -> (String, i64, bool, i64) {
        let rule = &self.rules.rules[index];
        (
            rule.category.clone(),
            rule.severity,
            self.decoder.formats.blocking.contains(action),
            rule.id,
        )
    }
}

/// Decoder and rule engine of one rules file and one formats file.
#[pyclass(frozen, module = "utm_core")]
struct Engine {
    core: Arc<Core>,
}

/// The outcome of one batch (see Engine.process).
#[pyclass(frozen, module = "utm_core")]
struct Batch {
    #[pyo3(get)]
    events: usize,
    #[pyo3(get)]
    counts: Py<PyDict>,
    #[pyo3(get)]
    threats: Py<PyList>,
    #[pyo3(get)]
    rejects: Py<PyList>,
    #[pyo3(get)]
    seen: Py<PyDict>,
    #[pyo3(get)]
    aliases: Py<PyList>,
}

/// A syslog message without its header.
#[pyclass(frozen, module = "utm_core", get_all)]
struct SyslogMessage {
    body: String,
    priority: Option<u32>,
    hostname: String,
    app: String,
    header: String,
    timestamp: String,
}

struct Threat {
    index: usize,
    event: Owned,
    outcome: (String, i64, bool, i64),
}

#[derive(Default)]
struct Outcome {
    identities: Vec<String>,
    identity_index: HashMap<String, usize>,
    /// (identity index, hour, rule index) -> n; rules of one category are merged at the end.
    counts: HashMap<(usize, i64, usize), u64>,
    threats: Vec<Threat>,
    rejects: Vec<(usize, &'static str, String)>,
    seen: Vec<i64>,
    aliases: Vec<(String, String, String)>,
    /// serial -> its (device name, sender) pairs seen in the batch
    alias_index: HashMap<String, Vec<(String, String)>>,
    /// The batch's outcomes by the values the rules read (while no rule reads decoded fields):
    /// hash -> (the values, rule index).
    rule_cache: HashMap<u64, (Vec<String>, usize)>,
}

/// The values the rules read of an event, and their hash.
fn rule_key<'e>(event: &'e Event<'_>) -> ([&'e str; 7], u64) {
    use std::hash::{Hash, Hasher};
    let values = [
        event.vendor,
        event.get(Attr::Kind),
        event.get(Attr::Subtype),
        event.get(Attr::Action),
        event.get(Attr::Level),
        event.get(Attr::Signature),
        event.get(Attr::Group),
    ];
    let mut h = std::collections::hash_map::DefaultHasher::new();
    values.hash(&mut h);
    (values, h.finish())
}

fn serial_ok(serial: &str) -> bool {
    (1..=64).contains(&serial.len()) && serial.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

impl Core {
    fn process(
        &self,
        values: &[Option<PyBackedBytes>],
        timestamps_ms: &[i64],
        now_ms: i64,
        max_bytes: usize,
        max_depth: usize,
    ) -> Outcome {
        let mut out = Outcome::default();
        let latest = now_ms.saturating_mul(1000).saturating_add(CLOCK_AHEAD_US);
        for (index, value) in values.iter().enumerate() {
            let raw: &[u8] = match value {
                None => {
                    out.rejects.push((index, "empty", "no record body".into()));
                    continue;
                }
                Some(v) => v,
            };
            if raw.is_empty() {
                out.rejects.push((index, "empty", "empty record".into()));
                continue;
            }
            if raw.len() > max_bytes {
                out.rejects.push((
                    index,
                    "too-large",
                    format!("record of {} bytes exceeds {max_bytes}", raw.len()),
                ));
                continue;
            }
            let opening = raw.iter().filter(|b| **b == b'{' || **b == b'[').count();
            if opening > max_depth && decode::exceeds_depth(raw, max_depth, false) {
                out.rejects.push((
                    index,
                    "too-deep",
                    format!("nesting deeper than {max_depth}"),
                ));
                continue;
            }
            let stamp = timestamps_ms.get(index).copied().unwrap_or(0);
            let result = catch_unwind(AssertUnwindSafe(|| {
                self.one(raw, index, stamp, now_ms, latest, &mut out)
            }));
            match result {
                Ok(Ok(())) => {}
                Ok(Err((code, reason))) => out.rejects.push((index, code, reason)),
                Err(_) => out
                    .rejects
                    .push((index, "unparseable", "internal decoder error".into())),
            }
        }
        out
    }

    fn one(
        &self,
        raw: &[u8],
        index: usize,
        stamp: i64,
        now_ms: i64,
        latest: i64,
        out: &mut Outcome,
    ) -> Result<(), (&'static str, String)> {
        let text = match std::str::from_utf8(raw) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(raw),
        };
        let mut scratch = Scratch::new();
        let mut event = self
            .decoder
            .decode(&text, "", &mut scratch)
            .map_err(|e| ("unparseable", e.0))?;
        let mut device_time = None;
        // (No check below can fail on the time, so it is settled first.)
        if event.occurred_at < EARLIEST_PLAUSIBLE_US || event.occurred_at > latest {
            // A unit whose clock was reset still reports real threats: the broker's time is kept
            // (stable across redelivery) and the device's own as a field.
            device_time = Some(isoformat_utc(event.occurred_at));
            event.occurred_at = if stamp > 0 {
                stamp.saturating_mul(1000)
            } else {
                now_ms.saturating_mul(1000)
            };
        }
        let serial = event.get(Attr::Serial);
        let identity: Cow<'_, str> = if !serial.is_empty() {
            if !serial_ok(serial) {
                return Err((
                    "invalid-field",
                    "serial number is not 1-64 printable ASCII characters".into(),
                ));
            }
            Cow::Borrowed(serial)
        } else if !event.get(Attr::DeviceName).is_empty() {
            Cow::Owned(format!("devname:{}", event.get(Attr::DeviceName)))
        } else if !event.sender.is_empty() {
            Cow::Owned(format!("sender:{}", event.sender))
        } else {
            return Err((
                "invalid-field",
                "no serial number, device name or sending host".into(),
            ));
        };
        let rule = if self.rules.reads_fields {
            self.classify(&event)
        } else {
            let (values, hash) = rule_key(&event);
            match out.rule_cache.get(&hash) {
                Some((known, rule)) if known.iter().zip(values.iter()).all(|(a, b)| a == b) => {
                    *rule
                }
                _ => {
                    let rule = self.classify(&event);
                    if out.rule_cache.len() < 4096 {
                        out.rule_cache
                            .insert(hash, (values.iter().map(|v| v.to_string()).collect(), rule));
                    }
                    rule
                }
            }
        };
        let id = match out.identity_index.get(&*identity) {
            Some(i) => *i,
            None => {
                let i = out.identities.len();
                out.identities.push(identity.to_string());
                out.identity_index.insert(identity.to_string(), i);
                out.seen.push(i64::MIN);
                i
            }
        };
        if out.seen[id] < event.occurred_at {
            out.seen[id] = event.occurred_at;
        }
        if !serial.is_empty() {
            let (name, sender) = (event.get(Attr::DeviceName), &*event.sender);
            let known = out
                .alias_index
                .get(serial)
                .is_some_and(|names| names.iter().any(|(n, s)| n == name && s == sender));
            if !known {
                out.alias_index
                    .entry(serial.to_string())
                    .or_default()
                    .push((name.to_string(), sender.to_string()));
                out.aliases
                    .push((serial.to_string(), name.to_string(), sender.to_string()));
            }
        }
        let r = &self.rules.rules[rule];
        if r.severity == 0 {
            let hour = event.occurred_at.div_euclid(HOUR_US) * 3600;
            *out.counts.entry((id, hour, rule)).or_insert(0) += 1;
            return Ok(());
        }
        let outcome = self.outcome(rule, event.get(Attr::Action));
        let mut owned_event = owned(&event);
        if let Some(t) = device_time {
            match owned_event
                .fields
                .iter_mut()
                .find(|(k, _)| k == "device_time")
            {
                Some(slot) => slot.1 = t,
                None => owned_event.fields.push(("device_time".into(), t)),
            }
        }
        out.threats.push(Threat {
            index,
            event: owned_event,
            outcome,
        });
        Ok(())
    }
}

fn text_of(d: &Bound<'_, PyDict>, key: &str) -> PyResult<String> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => v.extract::<String>(),
        _ => Ok(String::new()),
    }
}

#[pymethods]
impl Engine {
    #[new]
    fn new(rules: &str, formats: &str) -> PyResult<Self> {
        let formats = formats::parse(formats).map_err(PyValueError::new_err)?;
        let rules = Rules::parse(rules).map_err(PyValueError::new_err)?;
        Ok(Engine {
            core: Arc::new(Core {
                decoder: Decoder::new(formats),
                rules,
            }),
        })
    }

    /// The neutral event of one raw record as a dict, or DecodeError(reason).
    #[pyo3(signature = (raw, sender = ""))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        raw: &[u8],
        sender: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let text = String::from_utf8_lossy(raw);
        let mut scratch = Scratch::new();
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.core
                .decoder
                .decode(&text, sender, &mut scratch)
                .map(|e| owned(&e))
        }));
        match result {
            Ok(Ok(event)) => event_dict(py, &event),
            Ok(Err(e)) => Err(decode_err(py, e)),
            Err(_) => Err(decode_err(py, DecodeError("internal decoder error".into()))),
        }
    }

    /// (category code, severity 0-3, blocked, rule ID) of an event shaped as decode() returns it.
    fn classify(&self, event: &Bound<'_, PyDict>) -> PyResult<(String, i64, bool, i64)> {
        let vendor = text_of(event, "vendor")?;
        let (kind, subtype, action, level) = (
            text_of(event, "kind")?,
            text_of(event, "subtype")?,
            text_of(event, "action")?,
            text_of(event, "level")?,
        );
        let (signature, group) = (text_of(event, "signature")?, text_of(event, "group")?);
        let view = View {
            vendor: &vendor,
            kind: &kind,
            subtype: &subtype,
            action: &action,
            level: &level,
            signature: &signature,
            group: &group,
        };
        let mut fields: HashMap<String, String> = HashMap::new();
        if self.core.rules.reads_fields {
            if let Some(f) = event.get_item("fields")? {
                if let Ok(d) = f.downcast::<PyDict>() {
                    for (k, v) in d.iter() {
                        if let (Ok(k), Ok(v)) = (k.extract::<String>(), v.extract::<String>()) {
                            fields.insert(k, v);
                        }
                    }
                }
            }
        }
        let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let index = self.core.rules.first(&view, &field);
        Ok(self.core.outcome(index, &action))
    }

    /// Decode, check, classify and count a batch of raw records (see the module's documentation).
    fn process(
        &self,
        py: Python<'_>,
        values: Vec<Option<PyBackedBytes>>,
        timestamps_ms: Vec<i64>,
        now_ms: i64,
        max_record_bytes: usize,
        max_json_depth: usize,
    ) -> PyResult<Batch> {
        let core = Arc::clone(&self.core);
        let out = py.allow_threads(|| {
            let out = core.process(
                &values,
                &timestamps_ms,
                now_ms,
                max_record_bytes,
                max_json_depth,
            );
            let mut merged: HashMap<(usize, i64, &str), u64> = HashMap::new();
            for ((i, h, rule), n) in &out.counts {
                *merged
                    .entry((*i, *h, core.rules.rules[*rule].category.as_str()))
                    .or_insert(0) += n;
            }
            let counts: Vec<((usize, i64, String), u64)> = merged
                .into_iter()
                .map(|((i, h, c), n)| ((i, h, format!("benign.{c}")), n))
                .collect();
            (
                counts,
                out.identities,
                out.threats,
                out.rejects,
                out.seen,
                out.aliases,
            )
        });
        let (counts, identities, threats, rejects, seen, aliases) = out;
        let counts_d = PyDict::new(py);
        for ((i, hour, counter), n) in counts {
            counts_d.set_item((identities[i].as_str(), hour, counter), n)?;
        }
        let threats_l = PyList::empty(py);
        for t in &threats {
            let d = event_dict(py, &t.event)?;
            threats_l.append(PyTuple::new(
                py,
                [
                    t.index.into_pyobject(py)?.into_any(),
                    d.into_any(),
                    t.outcome.clone().into_pyobject(py)?.into_any(),
                ],
            )?)?;
        }
        let rejects_l = PyList::empty(py);
        for (i, code, reason) in rejects {
            rejects_l.append((i, code, reason))?;
        }
        let seen_d = PyDict::new(py);
        for (i, identity) in identities.iter().enumerate() {
            seen_d.set_item(identity, seen[i])?;
        }
        let aliases_l = PyList::empty(py);
        for a in aliases {
            aliases_l.append(a)?;
        }
        Ok(Batch {
            events: values.len(),
            counts: counts_d.unbind(),
            threats: threats_l.unbind(),
            rejects: rejects_l.unbind(),
            seen: seen_d.unbind(),
            aliases: aliases_l.unbind(),
        })
    }
}

/// The pairs of a key=value line (quotes removed, escapes resolved, first occurrence of a key wins)
/// and the number of duplicates ignored; DecodeError for a line that is not such a sequence.
#[pyfunction]
fn tokenize<'py>(py: Python<'py>, line: &str) -> PyResult<(Bound<'py, PyDict>, usize)> {
    let (pairs, dups) = decode::tokenize(line).map_err(|e| decode_err(py, e))?;
    let d = PyDict::new(py);
    for (k, v) in pairs {
        d.set_item(&*k, &*v)?;
    }
    Ok((d, dups))
}

/// The syslog header of a message split from its body.
#[pyfunction]
fn split_header(py: Python<'_>, text: &str) -> PyResult<SyslogMessage> {
    let m = decode::split_header(text).map_err(|e| decode_err(py, e))?;
    Ok(SyslogMessage {
        body: m.body.to_string(),
        priority: m.priority,
        hostname: m.hostname.to_string(),
        app: m.app.to_string(),
        header: m.header.to_string(),
        timestamp: m.timestamp.to_string(),
    })
}

/// The pairs of a CEF extension (first occurrence of a key wins).
#[pyfunction]
fn cef_extension<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyDict>> {
    let pairs = decode::cef_extension(text).map_err(|e| decode_err(py, e))?;
    let d = PyDict::new(py);
    for (k, v) in pairs {
        d.set_item(&*k, &*v)?;
    }
    Ok(d)
}

#[pymodule]
fn utm_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("DecodeError", decode_error_type(py)?)?;
    m.add_class::<Engine>()?;
    m.add_class::<Batch>()?;
    m.add_class::<SyslogMessage>()?;
    m.add_function(wrap_pyfunction!(tokenize, m)?)?;
    m.add_function(wrap_pyfunction!(split_header, m)?)?;
    m.add_function(wrap_pyfunction!(cef_extension, m)?)?;
    m.add("MAX_PAIRS", decode::MAX_PAIRS)?;
    Ok(())
}
