//! `quantize_checkpoint`: a float checkpoint directory in, a quantised one out.
//!
//! Tensors are read, converted and written one at a time (GGUF and safetensors headers are
//! written up front from the shapes), so the peak memory is about the largest tensor in f32 plus
//! its quantised blocks, whatever the size of the checkpoint.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use candle_core::quantized::QTensor;
use candle_core::{DType, Device};

use super::gguf::{GgufStreamWriter, PlannedTensor};
use super::manifest::{
    KeptFloat, MANIFEST_FILE, MANIFEST_FORMAT, QuantManifest, QuantType, SourceRecord, TensorRecord,
};
use super::safetensors_out::{PlannedFloat, SafetensorsStreamWriter};
use crate::model::ModelError;
use crate::model::checkpoint::{HASH_CACHE_FILE, file_hashes};
use crate::model::weights::{SafetensorsFiles, weight_files};

/// The float weights file of a quantised checkpoint (the name the checkpoint loader looks for).
pub const FLOAT_FILE: &str = "model.safetensors";

/// Whether `name` is a language-model matrix that is quantised: the attention and MLP
/// projections of every decoder layer, the token embedding and the LM head, in either tensor
/// layout (`model.language_model.*` from transformers 5, `model.*` from 4.x). Vision
/// (`visual.*`, `model.visual.*`) and ECG (`model.ecg_*`) tensors never match.
pub fn is_language_model_matrix(name: &str) -> bool {
    if name == "lm_head.weight" {
        return true;
    }
    let Some(rest) = name
        .strip_prefix("model.language_model.")
        .or_else(|| name.strip_prefix("model."))
    else {
        return false;
    };
    if rest == "embed_tokens.weight" {
        return true;
    }
    let Some(rest) = rest.strip_prefix("layers.") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    match parts[..] {
        [layer, block, proj, "weight"] => {
            layer.parse::<usize>().is_ok()
                && matches!(block, "self_attn" | "mlp")
                && proj.ends_with("_proj")
        }
        _ => false,
    }
}

/// Files of a checkpoint directory that are weights in some format (not copied: the output has
/// its own).
fn is_weight_file(name: &str) -> bool {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    matches!(
        ext,
        "safetensors" | "gguf" | "bin" | "pt" | "pth" | "ckpt" | "h5" | "msgpack" | "onnx"
    ) || name == "model.safetensors.index.json"
}

/// What [`quantize_checkpoint`] did.
#[derive(Clone, Debug)]
pub struct QuantizeReport {
    pub manifest: QuantManifest,
    /// Files copied unchanged (config, tokenizer, template, processor, ...).
    pub copied: Vec<String>,
    /// Files of the source left out (other weight formats).
    pub skipped: Vec<String>,
}

fn prepare_output(src: &Path, out: &Path) -> Result<(), ModelError> {
    if out.exists() {
        let entries = std::fs::read_dir(out)
            .map_err(|e| ModelError::file(out, format!("not a usable directory: {e}")))?;
        if entries.flatten().next().is_some() {
            return Err(ModelError::file(
                out,
                "already exists and is not empty; choose a new directory",
            ));
        }
    } else {
        std::fs::create_dir_all(out).map_err(|e| ModelError::file(out, e.to_string()))?;
    }
    let same = match (src.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(ModelError::file(out, "is the source checkpoint itself"));
    }
    Ok(())
}

/// Copies every file of `src` that is not weights; returns (copied, skipped), where skipped are
/// weight files in other formats than the `sources` being converted.
fn copy_side_files(
    src: &Path,
    out: &Path,
    sources: &[std::path::PathBuf],
) -> Result<(Vec<String>, Vec<String>), ModelError> {
    let mut copied = Vec::new();
    let mut skipped = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .map_err(|e| ModelError::file(src, e.to_string()))?
        .flatten()
        .filter(|e| e.path().is_file())
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        if name == HASH_CACHE_FILE || name == MANIFEST_FILE {
            continue;
        }
        if is_weight_file(&name) {
            let converted = name == "model.safetensors.index.json"
                || sources
                    .iter()
                    .any(|p| p.file_name() == Some(entry.file_name().as_os_str()));
            if !converted {
                skipped.push(name);
            }
            continue;
        }
        std::fs::copy(entry.path(), out.join(&name))
            .map_err(|e| ModelError::file(entry.path(), format!("copying: {e}")))?;
        copied.push(name);
    }
    Ok((copied, skipped))
}

/// Where each tensor of a checkpoint goes.
struct Split {
    quantized: Vec<PlannedTensor>,
    kept_float: Vec<KeptFloat>,
    float: Vec<PlannedFloat>,
}

fn split(files: &SafetensorsFiles, quant: QuantType) -> Split {
    let mut names: Vec<&str> = files.names().collect();
    names.sort_unstable();
    let block = quant.block_size();
    let mut out = Split {
        quantized: Vec::new(),
        kept_float: Vec::new(),
        float: Vec::new(),
    };
    for name in names {
        let shape = files.shape(name).unwrap_or_default().to_vec();
        let dtype = files.dtype(name).unwrap_or(DType::U8);
        let candidate = is_language_model_matrix(name) && shape.len() == 2;
        if candidate && dtype.is_float() && shape[1].is_multiple_of(block) {
            out.quantized.push(PlannedTensor {
                name: name.to_string(),
                quant,
                shape,
            });
            continue;
        }
        if candidate {
            out.kept_float.push(KeptFloat {
                name: name.to_string(),
                shape: shape.clone(),
                reason: format!(
                    "inner dimension {} is not a multiple of the {} block size {block}",
                    shape[1],
                    quant.name()
                ),
            });
        }
        out.float.push(PlannedFloat {
            name: name.to_string(),
            dtype,
            shape,
        });
    }
    out
}

fn write_gguf(
    files: &SafetensorsFiles,
    path: &Path,
    metadata: &[(&str, &str)],
    plan: &[PlannedTensor],
    progress: &mut dyn FnMut(&str),
) -> Result<(), ModelError> {
    let err = |e: candle_core::Error| ModelError::file(path, e.to_string());
    let f = File::create(path).map_err(|e| ModelError::file(path, e.to_string()))?;
    let mut gguf =
        GgufStreamWriter::begin(BufWriter::new(f), metadata, plan.to_vec()).map_err(err)?;
    for (i, t) in plan.iter().enumerate() {
        progress(&format!(
            "[{}/{}] {} {:?} -> {}",
            i + 1,
            plan.len(),
            t.name,
            t.shape,
            t.quant.name()
        ));
        let w = files.load(&t.name, &Device::Cpu)?.to_dtype(DType::F32)?;
        let q = QTensor::quantize(&w, t.quant.ggml()).map_err(|e| ModelError::Weights {
            name: t.name.clone(),
            problem: format!("quantising to {}: {e}", t.quant.name()),
        })?;
        drop(w);
        gguf.write_tensor(&t.name, &q).map_err(err)?;
    }
    gguf.finish().map_err(err)?;
    Ok(())
}

fn write_float(
    files: &SafetensorsFiles,
    path: &Path,
    plan: Vec<PlannedFloat>,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ModelError> {
    let err = |e: String| ModelError::file(path, e);
    let f = File::create(path).map_err(|e| ModelError::file(path, e.to_string()))?;
    let mut st = SafetensorsStreamWriter::begin(BufWriter::new(f), plan).map_err(err)?;
    let order: Vec<String> = st.order().map(|t| t.name.clone()).collect();
    progress(&format!("{} float tensors -> {FLOAT_FILE}", order.len()));
    for name in &order {
        st.write_tensor(name, &files.read_bytes(name)?)
            .map_err(err)?;
    }
    st.finish().map_err(err)?;
    Ok(())
}

/// Writes a quantised copy of the checkpoint in `src` to the new (or empty) directory `out`;
/// `progress` hears each tensor as it is written. On failure the partial copy is removed, so
/// `out` is left empty (or absent) as it was found.
pub fn quantize_checkpoint(
    src: &Path,
    out: &Path,
    quant: QuantType,
    progress: &mut dyn FnMut(&str),
) -> Result<QuantizeReport, ModelError> {
    if QuantManifest::read(src)?.is_some() {
        return Err(ModelError::file(
            src,
            "is already a quantised checkpoint; quantise the float original",
        ));
    }
    let sources = weight_files(src)?;
    let files = SafetensorsFiles::open(&sources)?;
    let plan = split(&files, quant);
    prepare_output(src, out)?;
    let result = write_output(src, out, quant, &sources, &files, plan, progress);
    if result.is_err() {
        // `out` was new or empty (checked above), so everything in it is ours.
        let _ = std::fs::remove_dir_all(out);
    }
    result
}

fn write_output(
    src: &Path,
    out: &Path,
    quant: QuantType,
    sources: &[std::path::PathBuf],
    files: &SafetensorsFiles,
    plan: Split,
    progress: &mut dyn FnMut(&str),
) -> Result<QuantizeReport, ModelError> {
    let (copied, skipped) = copy_side_files(src, out, sources)?;
    let src_name = src
        .canonicalize()
        .unwrap_or_else(|_| src.to_path_buf())
        .display()
        .to_string();
    let metadata = [
        ("general.name", src_name.as_str()),
        ("ecgr1.format", MANIFEST_FORMAT),
        ("ecgr1.quantization", quant.name()),
    ];
    let gguf_path = out.join(quant.gguf_file_name());
    write_gguf(files, &gguf_path, &metadata, &plan.quantized, progress)?;
    let float_path = out.join(FLOAT_FILE);
    write_float(files, &float_path, plan.float, progress)?;

    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let manifest = QuantManifest {
        format: MANIFEST_FORMAT.into(),
        quant_type: quant,
        gguf_file: quant.gguf_file_name(),
        float_file: FLOAT_FILE.into(),
        source: SourceRecord {
            dir: src_name,
            weights_sha256: file_hashes(src, sources)?,
            bytes: sources.iter().map(|p| size(p)).sum(),
        },
        quantized: plan
            .quantized
            .into_iter()
            .map(|t| TensorRecord {
                name: t.name,
                shape: t.shape,
            })
            .collect(),
        kept_float: plan.kept_float,
        gguf_bytes: size(&gguf_path),
        float_bytes: size(&float_path),
        writer: format!("ecgr1 {}", env!("CARGO_PKG_VERSION")),
    };
    // Written last: a directory without it is not taken for a finished quantised checkpoint.
    manifest.write(out)?;
    Ok(QuantizeReport {
        manifest,
        copied,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_language_model_matrices_are_selected() {
        for yes in [
            "lm_head.weight",
            "model.embed_tokens.weight",
            "model.language_model.embed_tokens.weight",
            "model.layers.0.self_attn.q_proj.weight",
            "model.language_model.layers.27.mlp.down_proj.weight",
        ] {
            assert!(is_language_model_matrix(yes), "{yes}");
        }
        for no in [
            "model.layers.0.self_attn.q_proj.bias",
            "model.layers.0.input_layernorm.weight",
            "model.language_model.layers.0.self_attn.q_norm.weight",
            "model.language_model.norm.weight",
            "visual.blocks.0.attn.qkv.weight",
            "model.visual.blocks.0.mlp.fc1.weight",
            "model.ecg_projector.0.weight",
            "model.ecg_tower.transformer.resblocks.0.mlp.c_fc.weight",
            "model.layers.x.mlp.up_proj.weight",
        ] {
            assert!(!is_language_model_matrix(no), "{no}");
        }
    }

    #[test]
    fn weight_files_are_not_copied() {
        assert!(is_weight_file("model-00001-of-00002.safetensors"));
        assert!(is_weight_file("model.safetensors.index.json"));
        assert!(is_weight_file("pytorch_model.bin"));
        assert!(!is_weight_file("tokenizer.json"));
        assert!(!is_weight_file("chat_template.jinja"));
    }
}
