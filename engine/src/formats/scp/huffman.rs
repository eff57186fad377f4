//! Section 2's Huffman tables and the decoding of the bit streams of Sections 5 and 6.
//!
//! SCP-ECG's coding is its own: each code has a prefix (the bits that identify it), a total
//! length (a value longer than the prefix follows it as a two's-complement number of
//! `total - prefix` bits, added to the code's base value) and a mode (1: a value; 0: switch
//! to table number "base value" for the codes that follow). No Huffman crate knows table
//! switches and trailing value bits, so the tables are a small binary tree built here, which
//! also lets a table whose codes are not prefix-free be refused rather than decoded wrongly.

use super::Ctx;
use super::sections::Bytes;
use crate::formats::{FormatError, FormatErrorKind};

/// Section 2's number of tables meaning "the standard's default table" (EN 1064 Table 8).
const DEFAULT_TABLE: u16 = 19999;
/// A code's prefix is at most 32 bits (its stored base code is a 32-bit field), and a value
/// following it at most 32 bits.
const MAX_BITS: u8 = 32;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Entry {
    /// A value: `base`, plus a signed number of `extra_bits` that follows the prefix.
    Value { base: i64, extra_bits: u8 },
    /// Switch to the table with this 1-based number.
    Switch(usize),
}

/// A node of a table's code tree: a leaf holds an entry, an inner node its two children.
#[derive(Clone, Debug)]
enum Node {
    Inner([Option<usize>; 2]),
    Leaf(Entry),
}

#[derive(Clone, Debug)]
pub(super) struct Table {
    nodes: Vec<Node>,
}

impl Table {
    fn new() -> Self {
        Self {
            nodes: vec![Node::Inner([None, None])],
        }
    }

    /// Adds the code whose `prefix_bits` bits are `code` (first transmitted bit most
    /// significant). Fails when it collides with a code already there.
    fn insert(&mut self, code: u32, prefix_bits: u8, entry: Entry) -> Result<(), &'static str> {
        let mut at = 0;
        for i in (0..prefix_bits).rev() {
            let bit = ((code >> i) & 1) as usize;
            let children = match &self.nodes[at] {
                Node::Inner(c) => *c,
                Node::Leaf(_) => return Err("a code begins with another code: not prefix-free"),
            };
            at = if let Some(next) = children[bit] {
                next
            } else {
                self.nodes.push(Node::Inner([None, None]));
                let next = self.nodes.len() - 1;
                if let Node::Inner(c) = &mut self.nodes[at] {
                    c[bit] = Some(next);
                }
                next
            };
        }
        match &self.nodes[at] {
            Node::Inner([None, None]) => {
                self.nodes[at] = Node::Leaf(entry);
                Ok(())
            }
            _ => Err("two codes share a prefix: not prefix-free"),
        }
    }

    /// EN 1064's default table: 0 → 0; n ones, a 0 and a sign bit → ±n (n = 1…8); nine ones and
    /// a 0, then an 8-bit value; ten ones, then a 16-bit value.
    fn standard_default() -> Self {
        let mut table = Self::new();
        let mut add = |code: u32, bits: u8, base: i64, extra_bits: u8| {
            // The default table is prefix-free by construction.
            let _ = table.insert(code, bits, Entry::Value { base, extra_bits });
        };
        add(0, 1, 0, 0);
        for n in 1..=8u8 {
            let ones = (1u32 << n) - 1;
            add(ones << 2, n + 2, i64::from(n), 0);
            add((ones << 2) | 1, n + 2, -i64::from(n), 0);
        }
        add(0b11_1111_1110, 10, 0, 8);
        add(0b11_1111_1111, 10, 0, 16);
        table
    }
}

/// Section 2: the tables, or the default table.
pub(super) fn read_tables(ctx: &Ctx<'_>, body: &[u8]) -> Result<Vec<Table>, FormatError> {
    let s = Bytes::new(body, "Section 2");
    let count = s.u16(ctx, 0, "number of tables")?;
    if count == DEFAULT_TABLE {
        return Ok(vec![Table::standard_default()]);
    }
    if count == 0 {
        return Err(ctx.err(
            FormatErrorKind::Invalid,
            "Section 2 number of tables",
            "0: Huffman coding is declared but no table is given",
        ));
    }
    let mut at = 2;
    let mut tables = Vec::with_capacity(usize::from(count.min(64)));
    for t in 1..=usize::from(count) {
        let field = format!("Huffman table {t}");
        let codes = usize::from(s.u16(ctx, at, &format!("{field} number of codes"))?);
        at += 2;
        // Refuse before reading a table that declares more codes than the section holds.
        s.slice(
            ctx,
            at,
            codes * 9,
            &format!("{field}: {codes} codes of 9 bytes"),
        )?;
        let mut table = Table::new();
        for c in 1..=codes {
            let code_field = format!("Section 2 {field} code {c}");
            let mut prefix = s.u8(ctx, at, &code_field)?;
            let mut total = s.u8(ctx, at + 1, &code_field)?;
            let mode = s.u8(ctx, at + 2, &code_field)?;
            let base = s.i16(ctx, at + 3, &code_field)?;
            let stored = s.u32(ctx, at + 5, &code_field)?;
            at += 9;
            // Some writers swap the two lengths; the prefix is never the longer one.
            if prefix > total {
                std::mem::swap(&mut prefix, &mut total);
            }
            if prefix == 0 || prefix > MAX_BITS || total - prefix > MAX_BITS {
                return Err(ctx.err(
                    FormatErrorKind::Invalid,
                    &code_field,
                    format!(
                        "prefix of {prefix} bits and {total} bits in all: a prefix has 1 to \
                         {MAX_BITS} bits and a value at most {MAX_BITS}"
                    ),
                ));
            }
            // The base code is stored bit-reversed: the first transmitted bit is the LSB.
            let code = stored.reverse_bits() >> (32 - u32::from(prefix));
            let entry = match mode {
                1 => Entry::Value {
                    base: i64::from(base),
                    extra_bits: total - prefix,
                },
                0 => match usize::try_from(base) {
                    Ok(n) if (1..=usize::from(count)).contains(&n) => Entry::Switch(n),
                    _ => {
                        return Err(ctx.err(
                            FormatErrorKind::Invalid,
                            &code_field,
                            format!("switches to table {base} of {count}"),
                        ));
                    }
                },
                other => {
                    return Err(ctx.err(
                        FormatErrorKind::Invalid,
                        &code_field,
                        format!("table mode {other} (0 switches tables, 1 is a value)"),
                    ));
                }
            };
            table
                .insert(code, prefix, entry)
                .map_err(|problem| ctx.err(FormatErrorKind::Invalid, &code_field, problem))?;
        }
        tables.push(table);
    }
    Ok(tables)
}

/// Reads bits most significant first.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.data.get(self.at / 8)?;
        let bit = (byte >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Some(bit)
    }
}

/// Decodes `count` values from one lead's bit stream, starting with the first table.
pub(super) fn decode(
    ctx: &Ctx<'_>,
    data: &[u8],
    count: usize,
    tables: &[Table],
    field: &str,
) -> Result<Vec<i64>, FormatError> {
    let ends = |n: usize| {
        ctx.err(
            FormatErrorKind::Truncated,
            field,
            format!("the Huffman data ends after {n} of {count} samples"),
        )
    };
    let mut out = Vec::with_capacity(count.min(data.len() * 8));
    let mut bits = Bits { data, at: 0 };
    let mut table = &tables[0];
    // A stream of nothing but table switches would never end; a switch per value is plenty.
    let mut switches = 0usize;
    while out.len() < count {
        let mut node = 0;
        let entry = loop {
            match &table.nodes[node] {
                Node::Leaf(e) => break *e,
                Node::Inner(children) => {
                    let bit = bits.next().ok_or_else(|| ends(out.len()))?;
                    node = children[usize::from(bit)].ok_or_else(|| {
                        ctx.err(
                            FormatErrorKind::Invalid,
                            field,
                            format!("bit {} starts no code of the Huffman table", bits.at),
                        )
                    })?;
                }
            }
        };
        match entry {
            Entry::Switch(n) => {
                switches += 1;
                if switches > count + tables.len() {
                    return Err(ctx.err(
                        FormatErrorKind::Invalid,
                        field,
                        "the Huffman data switches tables without end",
                    ));
                }
                table = &tables[n - 1];
            }
            Entry::Value { base, extra_bits } => {
                let mut raw: i64 = 0;
                for _ in 0..extra_bits {
                    let bit = bits.next().ok_or_else(|| ends(out.len()))?;
                    raw = (raw << 1) | i64::from(bit);
                }
                if extra_bits > 0 && raw >= 1 << (extra_bits - 1) {
                    raw -= 1 << extra_bits; // two's complement
                }
                out.push(base + raw);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx<'static> {
        Ctx { file: "t.scp" }
    }

    /// Packs a string of '0'/'1' into bytes, most significant bit first.
    fn pack(bits: &str) -> Vec<u8> {
        let mut out = vec![0u8; bits.len().div_ceil(8)];
        for (i, b) in bits.bytes().enumerate() {
            if b == b'1' {
                out[i / 8] |= 0x80 >> (i % 8);
            }
        }
        out
    }

    #[test]
    fn the_default_table_decodes_small_values_and_escapes() {
        let tables = [Table::standard_default()];
        // 0, +1, -1, +8, -3, 8-bit -100, 16-bit 1000
        let stream = "0 100 101 1111111100 11101 1111111110 10011100 1111111111 0000001111101000"
            .replace(' ', "");
        let values =
            decode(&ctx(), &pack(&stream), 7, &tables, "t").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(values, vec![0, 1, -1, 8, -3, -100, 1000]);
        let err = decode(&ctx(), &pack("0"), 9, &tables, "t").err();
        assert!(err.is_some_and(|e| e.kind == FormatErrorKind::Truncated));
    }

    #[test]
    fn custom_tables_switch_and_refuse_colliding_codes() {
        // Table 1: "0" → 5, "1" → switch to 2. Table 2: "1" → -5, "0" → switch to 1.
        let mut body = 2u16.to_le_bytes().to_vec();
        for (value_code, value, switch_code, to) in [(0u32, 5i16, 1u32, 2i16), (1, -5, 0, 1)] {
            body.extend(2u16.to_le_bytes());
            body.extend([1, 1, 1]);
            body.extend(value.to_le_bytes());
            body.extend(value_code.to_le_bytes());
            body.extend([1, 1, 0]);
            body.extend(to.to_le_bytes());
            body.extend(switch_code.to_le_bytes());
        }
        let tables = read_tables(&ctx(), &body).unwrap_or_else(|e| panic!("{e}"));
        let values =
            decode(&ctx(), &pack("01100"), 3, &tables, "t").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(values, vec![5, -5, 5]);
        // The same code twice in one table.
        let mut clash = 1u16.to_le_bytes().to_vec();
        clash.extend(2u16.to_le_bytes());
        for _ in 0..2 {
            clash.extend([1, 1, 1, 0, 0, 0, 0, 0, 0]);
        }
        let err = read_tables(&ctx(), &clash).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("prefix-free")));
    }
}
