//! Parity of the ECG-CoCa tower and `mlp2x_gelu` projector against the PyTorch reference in
//! `scripts/make_ecg_tower_fixtures.py` (fixtures under `tests/fixtures/model/ecg-tower-tiny/`),
//! and the loader's errors on malformed checkpoints and inputs.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use ecgr1_engine::formats::Format;
use ecgr1_engine::model::ecg_coca::{
    EcgEncoder, EcgTower, EcgTowerError, PROJECTOR_PREFIX, TOWER_PREFIX,
};
use ecgr1_engine::record::{EcgRecord, LeadId, LeadSignal, ModelSignal, Provenance, StandardLead};

const TOLERANCE: f32 = 1e-4;

fn fixture_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/model/ecg-tower-tiny")
        .join(case)
}

fn tensors(case: &str, file: &str) -> HashMap<String, Tensor> {
    let path = fixture_dir(case).join(file);
    candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn varbuilder(ts: HashMap<String, Tensor>) -> VarBuilder<'static> {
    VarBuilder::from_tensors(ts, DType::F32, &Device::Cpu)
}

fn encoder(case: &str) -> EcgEncoder {
    // Through the safetensors-backed VarBuilder, as a checkpoint directory would load.
    let bytes = std::fs::read(fixture_dir(case).join("model.safetensors")).unwrap();
    let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu).unwrap();
    EcgEncoder::from_varbuilder(&vb).unwrap_or_else(|e| panic!("{case}: {e}"))
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn config(case: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_dir(case).join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn check_config(enc: &EcgEncoder, case: &str) {
    let cfg = config(case);
    enc.check_config(
        cfg["ecg_hidden_size"].as_u64().map(|v| v as usize),
        cfg["ecg_projector_type"].as_str(),
        cfg["text_config"]["hidden_size"]
            .as_u64()
            .map(|v| v as usize),
    )
    .unwrap();
}

#[test]
fn small_batch_matches_reference() {
    let enc = encoder("w128-small");
    let c = *enc.tower.config();
    assert_eq!(
        (
            c.width,
            c.leads,
            c.patch,
            c.tokens,
            c.depth,
            c.heads,
            c.mlp_width
        ),
        (128, 12, 10, 26, 2, 2, 64)
    );
    assert_eq!(enc.projector.kind(), "mlp2x_gelu");
    assert_eq!((enc.projector.in_dim(), enc.projector.out_dim()), (128, 32));
    check_config(&enc, "w128-small");

    let reference = tensors("w128-small", "reference.safetensors");
    let signal = &reference["input.signal"];
    let tokens = enc.tower.forward(signal).unwrap();
    let d = max_abs_diff(&tokens, &reference["output.tokens"]);
    eprintln!("max |tokens - reference| = {d:e}");
    assert!(d <= TOLERANCE, "tower tokens differ by {d}");
    let projected = enc.projector.forward(&tokens).unwrap();
    let d = max_abs_diff(&projected, &reference["output.projected"]);
    eprintln!("max |projected - reference| = {d:e}");
    assert!(d <= TOLERANCE, "projected vectors differ by {d}");
    let both = enc.forward(signal).unwrap();
    assert_eq!(max_abs_diff(&both, &projected), 0.0);
}

/// The record in the fixture is in microvolts, leads in display order (aVL before aVF), 3 s at
/// 500 Hz with one NaN; the reference input was built from it by the documented rule, so this
/// checks `ModelSignal::from_record` and the tower on the real 12 × 5000 shape together.
#[test]
fn record_through_model_signal_matches_reference() {
    let enc = encoder("w64-real");
    let c = *enc.tower.config();
    assert_eq!(
        (
            c.width,
            c.leads,
            c.patch,
            c.tokens,
            c.depth,
            c.heads,
            c.mlp_width
        ),
        (64, 12, 50, 101, 1, 1, 256)
    );
    assert_eq!(c.samples(), 5000);
    check_config(&enc, "w64-real");

    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir("w64-real").join("case.json")).unwrap(),
    )
    .unwrap();
    let reference = tensors("w64-real", "reference.safetensors");
    let rows = reference["input.record_uv"].to_vec2::<f32>().unwrap();
    let leads = case["lead_order"]
        .as_array()
        .unwrap()
        .iter()
        .zip(rows)
        .map(|(name, row)| {
            let name = name.as_str().unwrap();
            let lead = StandardLead::from_label(name).unwrap();
            LeadSignal::new(
                LeadId::Standard(lead),
                name,
                row.into_iter().map(f64::from).collect(),
            )
        })
        .collect();
    let record = EcgRecord {
        sample_rate_hz: case["sample_rate_hz"].as_f64().unwrap(),
        leads,
        acquisition_time: None,
        device: None,
        provenance: Provenance {
            format: Format::Csv,
            file_name: "synthetic.csv".into(),
            sha256: String::new(),
            byte_len: 0,
        },
        annotations: Vec::new(),
        representative_beats: None,
        processing_notes: Vec::new(),
    };
    let signal = ModelSignal::from_record(&record).unwrap();
    assert!(signal.notes.iter().any(|n| n.contains("zero-padded")));
    assert!(signal.notes.iter().any(|n| n.contains("1 non-finite")));

    let tokens = enc.tower.encode(&signal).unwrap();
    let d = max_abs_diff(&tokens, &reference["output.tokens"]);
    eprintln!("max |tokens - reference| = {d:e}");
    assert!(d <= TOLERANCE, "tower tokens differ by {d}");
    let projected = enc.encode(&signal).unwrap();
    let d = max_abs_diff(&projected, &reference["output.projected"]);
    eprintln!("max |projected - reference| = {d:e}");
    assert!(d <= TOLERANCE, "projected vectors differ by {d}");
}

/// ln_post and proj are in the checkpoint but not part of the output: removing them changes
/// nothing, and the result is not the ln_post-normalised tokens.
#[test]
fn ln_post_and_proj_are_tolerated_not_used() {
    let mut ts = tensors("w128-small", "model.safetensors");
    for name in ["ln_post.weight", "ln_post.bias", "proj"] {
        assert!(ts.remove(&format!("{TOWER_PREFIX}.{name}")).is_some());
    }
    let enc = EcgEncoder::from_varbuilder(&varbuilder(ts)).unwrap();
    let reference = tensors("w128-small", "reference.safetensors");
    let tokens = enc.tower.forward(&reference["input.signal"]).unwrap();
    assert!(max_abs_diff(&tokens, &reference["output.tokens"]) <= TOLERANCE);
}

fn error_of(ts: HashMap<String, Tensor>) -> String {
    match EcgEncoder::from_varbuilder(&varbuilder(ts)) {
        Ok(_) => panic!("checkpoint accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_tensor_is_named() {
    let mut ts = tensors("w128-small", "model.safetensors");
    let name = format!("{TOWER_PREFIX}.transformer.resblocks.1.attn.out_proj.bias");
    ts.remove(&name);
    assert_eq!(
        error_of(ts),
        format!("missing tensor `{name}` in the checkpoint")
    );

    let mut ts = tensors("w128-small", "model.safetensors");
    ts.remove(&format!("{TOWER_PREFIX}.conv1.weight"));
    assert!(error_of(ts).contains("`model.ecg_tower.conv1.weight`"));

    let mut ts = tensors("w128-small", "model.safetensors");
    ts.remove(&format!("{PROJECTOR_PREFIX}.0.bias"));
    assert!(error_of(ts).contains("missing tensor `model.ecg_projector.0.bias`"));
}

#[test]
fn shape_mismatch_names_tensor_and_both_shapes() {
    let mut ts = tensors("w128-small", "model.safetensors");
    let name = format!("{TOWER_PREFIX}.transformer.resblocks.1.mlp.c_fc.bias");
    ts.insert(
        name.clone(),
        Tensor::zeros(65, DType::F32, &Device::Cpu).unwrap(),
    );
    assert_eq!(
        error_of(ts),
        format!("tensor `{name}` has shape [65], expected [64]")
    );

    let mut ts = tensors("w128-small", "model.safetensors");
    let name = format!("{TOWER_PREFIX}.positional_embedding");
    ts.insert(
        name,
        Tensor::zeros((26, 96), DType::F32, &Device::Cpu).unwrap(),
    );
    assert!(error_of(ts).contains("has shape [26, 96], expected [26, 128]"));

    // Projector input must be the tower width.
    let mut ts = tensors("w128-small", "model.safetensors");
    ts.insert(
        format!("{PROJECTOR_PREFIX}.0.weight"),
        Tensor::zeros((32, 64), DType::F32, &Device::Cpu).unwrap(),
    );
    assert_eq!(
        error_of(ts),
        "tensor `model.ecg_projector.0.weight` has shape [32, 64], expected [32, 128]"
    );
}

#[test]
fn width_not_divisible_by_head_width_is_refused() {
    let mut ts = HashMap::new();
    ts.insert(
        format!("{TOWER_PREFIX}.conv1.weight"),
        Tensor::zeros((96, 12, 50), DType::F32, &Device::Cpu).unwrap(),
    );
    let err = EcgTower::from_varbuilder(&varbuilder(ts).pp(TOWER_PREFIX)).unwrap_err();
    assert!(matches!(err, EcgTowerError::HeadWidth { width: 96, .. }));
    assert_eq!(
        err.to_string(),
        "ECG tower width 96 (from `model.ecg_tower.conv1.weight`) is not a multiple of \
         ECG-CoCa's head width 64"
    );
}

#[test]
fn block_gap_and_no_blocks_are_errors() {
    let mut ts = tensors("w128-small", "model.safetensors");
    ts.retain(|k, _| !k.contains(".resblocks.0."));
    assert_eq!(
        error_of(ts),
        "invalid ECG tower checkpoint: transformer blocks are not numbered contiguously: \
         block 1 exists but `model.ecg_tower.transformer.resblocks.0` is missing"
    );

    let mut ts = tensors("w128-small", "model.safetensors");
    ts.retain(|k, _| !k.contains(".resblocks."));
    assert!(error_of(ts).contains("no transformer blocks"));
}

#[test]
fn wrong_signal_shape_is_refused() {
    let enc = encoder("w64-real");
    for dims in [
        vec![1, 12, 4999],
        vec![1, 11, 5000],
        vec![12, 5000],
        vec![0, 12, 5000],
    ] {
        let signal = Tensor::zeros(dims.as_slice(), DType::F32, &Device::Cpu).unwrap();
        let err = enc.tower.forward(&signal).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "ECG signal has shape {dims:?}; this tower expects [batch, 12, 5000] \
                 (12 leads × patch 50 × 100 patches)"
            )
        );
    }
    let bad = ModelSignal {
        data_mv: vec![0.0; 10],
        leads: 12,
        samples: 5000,
        notes: Vec::new(),
    };
    assert_eq!(
        enc.tower.encode(&bad).unwrap_err().to_string(),
        "ModelSignal holds 10 values, not 12 leads × 5000 samples"
    );
}

#[test]
fn config_disagreement_is_reported() {
    let enc = encoder("w128-small");
    let err = enc.check_config(Some(768), None, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config.json disagrees with the checkpoint: ecg_hidden_size is 768 but \
         `model.ecg_tower.conv1.weight` gives width 128"
    );
    assert!(
        enc.check_config(None, Some("linear"), None)
            .unwrap_err()
            .to_string()
            .contains("holds a `mlp2x_gelu`")
    );
    assert!(
        enc.check_config(None, None, Some(4096))
            .unwrap_err()
            .to_string()
            .contains("projector outputs 32")
    );
}

/// A deeper `mlpNx_gelu` (N = 3) composes Linear → GELU → Linear → GELU → Linear.
#[test]
fn deeper_projector_composes_layers() {
    let mut ts = tensors("w128-small", "model.safetensors");
    let dev = Device::Cpu;
    let w4 = Tensor::randn(0f32, 0.2, (32, 32), &dev).unwrap();
    let b4 = Tensor::randn(0f32, 0.1, 32, &dev).unwrap();
    ts.insert(format!("{PROJECTOR_PREFIX}.4.weight"), w4.clone());
    ts.insert(format!("{PROJECTOR_PREFIX}.4.bias"), b4.clone());
    let enc = EcgEncoder::from_varbuilder(&varbuilder(ts)).unwrap();
    assert_eq!(enc.projector.kind(), "mlp3x_gelu");

    let reference = tensors("w128-small", "reference.safetensors");
    let tokens = enc.tower.forward(&reference["input.signal"]).unwrap();
    let got = enc.projector.forward(&tokens).unwrap();
    let two = &reference["output.projected"];
    let expected = two
        .gelu_erf()
        .unwrap()
        .broadcast_matmul(&w4.t().unwrap())
        .unwrap()
        .broadcast_add(&b4)
        .unwrap();
    assert!(max_abs_diff(&got, &expected) <= TOLERANCE);
}
