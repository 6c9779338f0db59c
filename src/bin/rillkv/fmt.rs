//! How keys and values are read from arguments and printed: text with
//! escapes, hex, or u64; JSON values that keep every byte.

use clap::Args;
use serde_json::{Map, Value, json};

use crate::error::CliError;

/// How keys and values are given and printed.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Encoding {
    /// Keys and values are given and printed as hex (`75736572` for `user`).
    #[arg(long)]
    pub hex: bool,
    /// Values are u64 numbers, stored as 8 bytes little-endian (the u64
    /// merge operators' format): given in decimal, printed in decimal.
    #[arg(long)]
    pub u64: bool,
    /// Print JSON: keys and values as strings when they are UTF-8 (or as
    /// `key_hex` / `value_hex` otherwise, or with --hex), numbers with --u64.
    #[arg(long)]
    pub json: bool,
}

/// Decodes hex, with or without a `0x` prefix.
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return Err(format!("`{s}` is not hex: odd number of digits"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("`{s}` is not hex"))
        })
        .collect()
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Bytes as text: printable ASCII as is, `\\` for a backslash, `\xNN`
/// for anything else. Unambiguous and one line.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// The value of 8 little-endian bytes.
pub fn as_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

impl Encoding {
    /// A key from an argument.
    pub fn key(&self, arg: &str) -> Result<Vec<u8>, CliError> {
        if self.hex {
            from_hex(arg).map_err(|e| CliError::usage(format!("key: {e}")))
        } else {
            Ok(arg.as_bytes().to_vec())
        }
    }

    /// A value from an argument.
    pub fn value(&self, arg: &str) -> Result<Vec<u8>, CliError> {
        if self.u64 {
            let n: u64 = arg.parse().map_err(|_| {
                CliError::usage(format!("value `{arg}` is not a u64 (--u64 takes decimal)"))
            })?;
            Ok(n.to_le_bytes().to_vec())
        } else if self.hex {
            from_hex(arg).map_err(|e| CliError::usage(format!("value: {e}")))
        } else {
            Ok(arg.as_bytes().to_vec())
        }
    }

    /// A key for text output.
    pub fn show_key(&self, key: &[u8]) -> String {
        if self.hex { to_hex(key) } else { escape(key) }
    }

    /// A value for text output.
    pub fn show_value(&self, value: &[u8]) -> String {
        if self.u64
            && let Some(n) = as_u64(value)
        {
            return n.to_string();
        }
        if self.hex {
            to_hex(value)
        } else {
            escape(value)
        }
    }

    /// Puts `bytes` into `obj` as `name` (UTF-8 text), `name_hex`, or a
    /// number (`value` with --u64).
    pub fn json_field(&self, obj: &mut Map<String, Value>, name: &str, bytes: &[u8], value: bool) {
        if value
            && self.u64
            && let Some(n) = as_u64(bytes)
        {
            obj.insert(name.to_owned(), json!(n));
            return;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) if !self.hex => {
                obj.insert(name.to_owned(), json!(text));
            }
            _ => {
                obj.insert(format!("{name}_hex"), json!(to_hex(bytes)));
            }
        }
    }

    /// `{"key": .., "value": ..}`.
    pub fn json_pair(&self, key: &[u8], value: Option<&[u8]>) -> Value {
        let mut obj = Map::new();
        self.json_field(&mut obj, "key", key, false);
        match value {
            Some(v) => self.json_field(&mut obj, "value", v, true),
            None => {
                obj.insert("value".to_owned(), Value::Null);
            }
        }
        Value::Object(obj)
    }
}

/// Bytes as `12.3 MiB`.
pub fn human(bytes: u64) -> String {
    rillkv::compaction::svg::human_bytes(bytes)
}

/// Bytes as `12.3 MiB (12897484 bytes)`, or `512 B` below 1 KiB.
pub fn human_exact(bytes: u64) -> String {
    if bytes < 1024 {
        human(bytes)
    } else {
        format!("{} ({bytes} bytes)", human(bytes))
    }
}

/// `1 run`, `2 runs`.
pub fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// A key for tables of many keys: escaped, cut at 24 bytes.
pub fn short_key(key: &[u8]) -> String {
    let cut = key.get(..24).unwrap_or(key);
    let more = if cut.len() < key.len() { "…" } else { "" };
    format!("{}{more}", escape(cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_escape() {
        assert_eq!(from_hex("0x00ff10").unwrap(), vec![0, 255, 16]);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
        assert_eq!(to_hex(&[0, 255]), "00ff");
        assert_eq!(escape(b"a\\b\x00\n"), "a\\\\b\\x00\\x0a");
    }
}
