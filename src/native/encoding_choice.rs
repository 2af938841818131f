//! Which storage a writer chooses for each column: the `--encoding` / `WriteOptions::encoding`
//! specification and its text form (also the table property `quiver.encoding`). Knows nothing
//! of Arrow.
//!
//! # Contract
//! - An [`EncodingSpec`] is a default [`EncodingChoice`] plus per-column overrides by exact
//!   column name. Its text form is `CHOICE[,COLUMN=CHOICE]...` (or only overrides, the default
//!   then `raw`); [`EncodingSpec::parse`] and `Display` are inverses, and a parse error names
//!   the part at fault. Column names holding `,` or `=` cannot be named in the text form.
//! - What each choice does with a column is decided by `column_encoder.rs`: a choice is a
//!   permission, never an obligation (`dict` on a column of a million distinct values, or
//!   `packed` on strings, stores the column raw).

use std::fmt;

/// The storage a writer may pick for one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EncodingChoice {
    /// The zero-copy raw layout (the default).
    #[default]
    Raw,
    /// Dictionary codes where the column's values fit a dictionary.
    Dictionary,
    /// Frame of reference and bit packing for integer-like types.
    Packed,
    /// Steps from the row before, for integer-like columns whose values never decrease.
    Delta,
    /// zstd-compressed blocks of rows for string and binary columns.
    Zstd,
    /// The smallest encoding this writer has for the column, if it is smaller than raw.
    Compact,
    /// As `Compact`, but only where it saves at least
    /// [`AUTO_MIN_SAVING`](super::column_encoder::AUTO_MIN_SAVING) of the raw bytes.
    Auto,
}

impl EncodingChoice {
    /// The choice's name in the text form.
    pub fn name(self) -> &'static str {
        match self {
            EncodingChoice::Raw => "raw",
            EncodingChoice::Dictionary => "dict",
            EncodingChoice::Packed => "packed",
            EncodingChoice::Delta => "delta",
            EncodingChoice::Zstd => "zstd",
            EncodingChoice::Compact => "compact",
            EncodingChoice::Auto => "auto",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            EncodingChoice::Raw,
            EncodingChoice::Dictionary,
            EncodingChoice::Packed,
            EncodingChoice::Delta,
            EncodingChoice::Zstd,
            EncodingChoice::Compact,
            EncodingChoice::Auto,
        ]
        .into_iter()
        .find(|c| c.name() == s)
    }
}

/// A default choice and per-column overrides (see the module contract).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodingSpec {
    /// The choice for columns without an override.
    pub default: EncodingChoice,
    /// `(column name, choice)` overrides, in the order given.
    pub columns: Vec<(String, EncodingChoice)>,
}

impl EncodingSpec {
    /// Every column `choice`.
    pub fn all(choice: EncodingChoice) -> Self {
        Self {
            default: choice,
            columns: Vec::new(),
        }
    }

    /// The choice for column `name`: its last override, else the default.
    pub fn for_column(&self, name: &str) -> EncodingChoice {
        self.columns
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(self.default, |(_, c)| *c)
    }

    /// Whether every column is raw (the writer then writes format-version-2 segments).
    pub fn is_raw(&self) -> bool {
        self.default == EncodingChoice::Raw
            && self.columns.iter().all(|(_, c)| *c == EncodingChoice::Raw)
    }

    /// Parses the text form (`compact`, `raw,l_comment=dict`, `l_shipmode=dict`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let known = "raw, dict, packed, delta, zstd, compact or auto";
        let mut spec = Self::default();
        for (i, part) in text.split(',').map(str::trim).enumerate() {
            match part.split_once('=') {
                None if i == 0 => {
                    spec.default = EncodingChoice::parse(part).ok_or_else(|| {
                        format!(
                            "unknown encoding \"{part}\" (expected {known}, or COLUMN=ENCODING)"
                        )
                    })?;
                }
                None => {
                    return Err(format!(
                        "\"{part}\": after the first part, each part is COLUMN=ENCODING"
                    ))
                }
                Some((name, choice)) => {
                    let name = name.trim();
                    if name.is_empty() {
                        return Err(format!("\"{part}\" names no column"));
                    }
                    let choice = EncodingChoice::parse(choice.trim()).ok_or_else(|| {
                        format!(
                            "unknown encoding \"{}\" for column \"{name}\" (expected {known})",
                            choice.trim()
                        )
                    })?;
                    spec.columns.push((name.to_owned(), choice));
                }
            }
        }
        Ok(spec)
    }
}

impl fmt::Display for EncodingSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.default.name())?;
        for (name, choice) in &self.columns {
            write!(f, ",{name}={}", choice.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_overrides_win() {
        let spec = EncodingSpec::parse("compact, l_comment=raw,l_shipmode=dict").unwrap();
        assert_eq!(spec.default, EncodingChoice::Compact);
        assert_eq!(spec.for_column("l_comment"), EncodingChoice::Raw);
        assert_eq!(spec.for_column("l_shipmode"), EncodingChoice::Dictionary);
        assert_eq!(spec.for_column("other"), EncodingChoice::Compact);
        assert_eq!(EncodingSpec::parse(&spec.to_string()).unwrap(), spec);
        let only = EncodingSpec::parse("x=packed").unwrap();
        assert_eq!(only.default, EncodingChoice::Raw);
        assert!(!only.is_raw());
        assert!(EncodingSpec::parse("raw").unwrap().is_raw());
    }

    #[test]
    fn bad_parts_are_named() {
        assert!(EncodingSpec::parse("lz5").unwrap_err().contains("\"lz5\""));
        assert!(EncodingSpec::parse("raw,dict")
            .unwrap_err()
            .contains("COLUMN=ENCODING"));
        assert!(EncodingSpec::parse("a=lz4")
            .unwrap_err()
            .contains("column \"a\""));
        assert!(EncodingSpec::parse("=dict")
            .unwrap_err()
            .contains("names no column"));
    }
}
