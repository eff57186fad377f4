//! A safetensors file written one tensor at a time (the header is known from names, dtypes and
//! shapes before any data is read), so copying the float part of a large checkpoint holds one
//! tensor in memory, not the file.

use std::collections::BTreeMap;
use std::io::Write;

use candle_core::DType;
use serde_json::{Value, json};

/// safetensors' dtype names.
pub fn dtype_name(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::F32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::F64 => "F64",
        DType::I64 => "I64",
        DType::U32 => "U32",
        DType::U8 => "U8",
        _ => return None,
    })
}

/// One tensor of the header.
#[derive(Clone, Debug)]
pub struct PlannedFloat {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl PlannedFloat {
    pub fn byte_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size_in_bytes()
    }
}

/// Writes the header for `plan` (tensors stored in name order, as safetensors' own writer does),
/// then [`SafetensorsStreamWriter::write_tensor`] in that order.
pub struct SafetensorsStreamWriter<W: Write> {
    out: W,
    order: Vec<PlannedFloat>,
    next: usize,
}

fn io_err(e: &std::io::Error) -> String {
    format!("writing safetensors: {e}")
}

impl<W: Write> SafetensorsStreamWriter<W> {
    pub fn begin(mut out: W, plan: Vec<PlannedFloat>) -> Result<Self, String> {
        let mut sorted: BTreeMap<String, PlannedFloat> = BTreeMap::new();
        for t in plan {
            if sorted.insert(t.name.clone(), t.clone()).is_some() {
                return Err(format!("tensor '{}' planned twice", t.name));
            }
        }
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), json!({"format": "pt"}));
        let mut offset = 0usize;
        for t in sorted.values() {
            let dtype = dtype_name(t.dtype)
                .ok_or_else(|| format!("tensor '{}': dtype {:?} unsupported", t.name, t.dtype))?;
            let end = offset + t.byte_len();
            header.insert(
                t.name.clone(),
                json!({"dtype": dtype, "shape": t.shape, "data_offsets": [offset, end]}),
            );
            offset = end;
        }
        let mut bytes =
            serde_json::to_vec(&Value::Object(header)).map_err(|e| format!("header: {e}"))?;
        // The data is aligned to 8 bytes, as the format recommends, by padding with spaces.
        bytes.resize(bytes.len().div_ceil(8) * 8, b' ');
        out.write_all(&(bytes.len() as u64).to_le_bytes())
            .and_then(|()| out.write_all(&bytes))
            .map_err(|e| io_err(&e))?;
        Ok(Self {
            out,
            order: sorted.into_values().collect(),
            next: 0,
        })
    }

    /// The tensor names in the order their data must be written.
    pub fn order(&self) -> impl Iterator<Item = &PlannedFloat> {
        self.order.iter()
    }

    pub fn write_tensor(&mut self, name: &str, data: &[u8]) -> Result<(), String> {
        let want = self
            .order
            .get(self.next)
            .ok_or_else(|| format!("tensor '{name}' was not planned"))?;
        if want.name != name || want.byte_len() != data.len() {
            return Err(format!(
                "tensor '{name}' ({} bytes) arrives where '{}' ({} bytes) was planned",
                data.len(),
                want.name,
                want.byte_len()
            ));
        }
        self.out.write_all(data).map_err(|e| io_err(&e))?;
        self.next += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<W, String> {
        if self.next != self.order.len() {
            return Err(format!(
                "safetensors file ends after {} of {} planned tensors",
                self.next,
                self.order.len()
            ));
        }
        self.out.flush().map_err(|e| io_err(&e))?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::weights::SafetensorsFiles;
    use candle_core::Device;

    #[test]
    fn streamed_file_reads_back_with_the_checkpoint_reader() {
        let plan = vec![
            PlannedFloat {
                name: "z.bias".into(),
                dtype: DType::F32,
                shape: vec![3],
            },
            PlannedFloat {
                name: "a.weight".into(),
                dtype: DType::BF16,
                shape: vec![1, 3],
            },
        ];
        let mut w = SafetensorsStreamWriter::begin(Vec::new(), plan).unwrap();
        let order: Vec<String> = w.order().map(|t| t.name.clone()).collect();
        assert_eq!(order, ["a.weight", "z.bias"]);
        assert!(w.write_tensor("z.bias", &[0; 12]).is_err());
        let bf: Vec<u8> = [1.0f32, 2.0, -3.0]
            .iter()
            // These values are exact in bf16: its bits are the f32's upper half.
            .flat_map(|x: &f32| ((x.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        w.write_tensor("a.weight", &bf).unwrap();
        let f: Vec<u8> = [0.5f32, 0.25, 4.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        w.write_tensor("z.bias", &f).unwrap();
        let bytes = w.finish().unwrap();
        let path =
            std::env::temp_dir().join(format!("ecgr1-st-out-{}.safetensors", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let st = SafetensorsFiles::open(std::slice::from_ref(&path)).unwrap();
        let a = st.load("a.weight", &Device::Cpu).unwrap();
        assert_eq!(a.dtype(), DType::BF16);
        assert_eq!(
            a.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap(),
            [[1.0, 2.0, -3.0]]
        );
        let z = st.load("z.bias", &Device::Cpu).unwrap();
        assert_eq!(z.to_vec1::<f32>().unwrap(), [0.5, 0.25, 4.0]);
        let _ = std::fs::remove_file(&path);
    }
}
