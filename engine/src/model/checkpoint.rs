//! A checkpoint directory: where it is (a path or a model id in the local Hugging Face cache),
//! what family it is, its files and their SHA-256 (cached beside the weights).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ModelError;
use super::config::ModelConfig;
use super::quant::QuantManifest;
use super::weights::SafetensorsFiles;

/// Model families this engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelFamily {
    /// Qwen2-VL (the 2B TWI variant of ECG-R1): image + text.
    Qwen2Vl,
    /// Qwen3-VL without an ECG tower: image + text.
    Qwen3Vl,
    /// ECG-R1: Qwen3-VL plus the ECG-CoCa tower (`model.ecg_tower.*`): signal, image or both.
    EcgR1,
}

impl ModelFamily {
    pub fn name(self) -> &'static str {
        match self {
            Self::Qwen2Vl => "qwen2-vl",
            Self::Qwen3Vl => "qwen3-vl",
            Self::EcgR1 => "ecg-r1",
        }
    }

    /// The family as a person reads it.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Qwen2Vl => "Qwen2-VL",
            Self::Qwen3Vl => "Qwen3-VL",
            Self::EcgR1 => "ECG-R1 (Qwen3-VL + ECG-CoCa)",
        }
    }

    /// Whether the model reads the signal itself (through its ECG tower).
    pub fn reads_signal(self) -> bool {
        self == Self::EcgR1
    }
}

/// Resolves `spec` to a checkpoint directory: an existing directory as given, otherwise a model
/// id `ORG/NAME` (optionally `@REVISION`) looked up in the local Hugging Face cache
/// (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). Never touches the
/// network.
pub fn resolve_model_path(spec: &str) -> Result<PathBuf, ModelError> {
    resolve_with_hub(
        spec,
        hub_cache_dir(
            std::env::var_os("HF_HUB_CACHE"),
            std::env::var_os("HF_HOME"),
            std::env::var_os("HOME"),
        ),
    )
}

fn resolve_with_hub(spec: &str, hub: Option<PathBuf>) -> Result<PathBuf, ModelError> {
    let direct = PathBuf::from(spec);
    if direct.is_dir() {
        return Ok(direct);
    }
    let (id, revision) = match spec.split_once('@') {
        Some((id, rev)) => (id, Some(rev)),
        None => (spec, None),
    };
    let parts: Vec<&str> = id.split('/').collect();
    let [org, name] = parts[..] else {
        return Err(ModelError::file(
            spec,
            "not a directory, and not a model id of the form ORG/NAME",
        ));
    };
    if [org, name]
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(ModelError::file(spec, "not a valid model id"));
    }
    let hub = hub.ok_or_else(|| {
        ModelError::file(
            spec,
            "not a directory, and no Hugging Face cache location is known (set HF_HOME)",
        )
    })?;
    let repo = hub.join(format!("models--{org}--{name}"));
    if !repo.is_dir() {
        return Err(ModelError::file(
            spec,
            format!(
                "not a directory and not in the local Hugging Face cache ({} is missing)",
                repo.display()
            ),
        ));
    }
    let rev = revision.unwrap_or("main");
    // A ref name maps to a commit through refs/<name>; a commit hash is used as is.
    let commit = std::fs::read_to_string(repo.join("refs").join(rev))
        .map_or_else(|_| rev.to_string(), |s| s.trim().to_string());
    if commit.contains('/') || commit.contains("..") {
        return Err(ModelError::file(
            spec,
            format!("revision '{commit}' is not valid"),
        ));
    }
    let snapshot = repo.join("snapshots").join(&commit);
    if snapshot.is_dir() {
        Ok(snapshot)
    } else {
        Err(ModelError::file(
            &snapshot,
            format!("revision '{rev}' of {id} is not in the local Hugging Face cache"),
        ))
    }
}

/// The hub cache folder from `HF_HUB_CACHE`, `HF_HOME` and `HOME`, in Hugging Face's order.
fn hub_cache_dir(
    hub_cache: Option<std::ffi::OsString>,
    hf_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    if let Some(p) = hub_cache.filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = hf_home.filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p).join("hub"));
    }
    home.filter(|p| !p.is_empty()).map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("huggingface")
            .join("hub")
    })
}

/// A parsed checkpoint directory (weights not loaded yet).
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub family: ModelFamily,
    pub config: ModelConfig,
    pub weight_files: Vec<PathBuf>,
    /// Elements stored in the weight files (the parameter count, ECG tower included).
    pub parameters: u64,
    /// Stop tokens: config.json's and generation_config.json's eos ids.
    pub eos_token_ids: Vec<u32>,
    /// dtype the weights are stored in, from config.json (informational).
    pub stored_dtype: Option<String>,
    /// The float dtype most of the stored tensors have (what the weight files really hold;
    /// decides the default compute dtype, see [`super::ModelDType::default_for`]).
    pub weights_dtype: Option<candle_core::DType>,
    /// Present when the language model's matrices are quantised into a GGUF file beside the
    /// float weights (`quantization.json`, see [`super::quant`]).
    pub quantization: Option<QuantManifest>,
}

impl Checkpoint {
    /// Opens a checkpoint by path or cached model id and checks its files are there.
    pub fn open(spec: &str) -> Result<Self, ModelError> {
        let dir = resolve_model_path(spec)?;
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| ModelError::file(&config_path, format!("cannot read: {e}")))?;
        let config = ModelConfig::from_json(&config_path.display().to_string(), &text)?;
        let raw: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let stored_dtype = raw
            .get("torch_dtype")
            .or_else(|| raw.get("dtype"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let weight_files = super::weights::weight_files(&dir)?;
        // Only the headers are read here: enough to count parameters and see an ECG tower.
        let tensors = SafetensorsFiles::open(&weight_files)?;
        let weights_dtype = tensors
            .dtype_counts()
            .into_iter()
            .map(|(d, _)| d)
            .find(candle_core::DType::is_float);
        let has_tower = super::qwen3vl::has_ecg_tower(&tensors);
        let family = match &config {
            ModelConfig::Qwen2Vl(_) => ModelFamily::Qwen2Vl,
            // The tower's tensors decide: ECG fields in config.json without a tower leave an
            // image-only Qwen3-VL.
            ModelConfig::Qwen3Vl(_) if has_tower => ModelFamily::EcgR1,
            ModelConfig::Qwen3Vl(_) => ModelFamily::Qwen3Vl,
        };
        let quantization = QuantManifest::read(&dir)?;
        for needed in ["tokenizer.json"] {
            if !dir.join(needed).is_file() {
                return Err(ModelError::file(
                    dir.join(needed),
                    "missing from the checkpoint",
                ));
            }
        }
        let mut eos_token_ids = config.eos_token_ids().to_vec();
        let gen_path = dir.join("generation_config.json");
        if let Ok(g) = std::fs::read_to_string(&gen_path) {
            let g: Value = serde_json::from_str(&g)
                .map_err(|e| ModelError::file(&gen_path, format!("not valid JSON: {e}")))?;
            match g.get("eos_token_id") {
                Some(Value::Array(a)) => eos_token_ids.extend(
                    a.iter()
                        .filter_map(|x| x.as_u64().and_then(|n| u32::try_from(n).ok())),
                ),
                Some(v) => eos_token_ids.extend(v.as_u64().and_then(|n| u32::try_from(n).ok())),
                None => {}
            }
        }
        eos_token_ids.sort_unstable();
        eos_token_ids.dedup();
        Ok(Self {
            dir,
            family,
            config,
            weight_files,
            // A quantised checkpoint's language-model matrices are in its GGUF file.
            parameters: tensors.element_count()
                + quantization
                    .as_ref()
                    .map_or(0, QuantManifest::quantized_elements),
            eos_token_ids,
            stored_dtype,
            weights_dtype,
            quantization,
        })
    }

    /// The GGUF file of a quantised checkpoint.
    pub fn gguf_file(&self) -> Option<PathBuf> {
        self.quantization
            .as_ref()
            .map(|q| self.dir.join(&q.gguf_file))
    }

    /// Every file in the checkpoint directory (not recursing), sorted by name.
    pub fn files(&self) -> Result<Vec<PathBuf>, ModelError> {
        let mut out = Vec::new();
        let rd =
            std::fs::read_dir(&self.dir).map_err(|e| ModelError::file(&self.dir, e.to_string()))?;
        for entry in rd.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if p.is_file() && name != HASH_CACHE_FILE {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    }

    /// (file name, SHA-256) of every weight file (the GGUF file of a quantised checkpoint
    /// included), from the sidecar cache where size and modification time still match, computed
    /// (and cached when the directory is writable) otherwise.
    pub fn weight_hashes(&self) -> Result<Vec<(String, String)>, ModelError> {
        let mut files = self.weight_files.clone();
        files.extend(self.gguf_file());
        file_hashes(&self.dir, &files)
    }
}

/// Name of the sidecar file caching SHA-256 per file, keyed by size and modification time.
pub const HASH_CACHE_FILE: &str = ".ecgr1-sha256.json";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct HashCacheEntry {
    size: u64,
    mtime_ns: u128,
    sha256: String,
}

/// SHA-256 of `files` (all inside `dir`), with the sidecar cache in `dir`.
pub fn file_hashes(dir: &Path, files: &[PathBuf]) -> Result<Vec<(String, String)>, ModelError> {
    let cache_path = dir.join(HASH_CACHE_FILE);
    let mut cache: std::collections::BTreeMap<String, HashCacheEntry> =
        std::fs::read_to_string(&cache_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
    let mut changed = false;
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        );
        let meta = std::fs::metadata(path).map_err(|e| ModelError::file(path, e.to_string()))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let hit = cache
            .get(&name)
            .filter(|e| e.size == meta.len() && e.mtime_ns == mtime_ns && e.sha256.len() == 64)
            .map(|e| e.sha256.clone());
        let sha = if let Some(sha) = hit {
            sha
        } else {
            let sha = sha256_file(path)?;
            cache.insert(
                name.clone(),
                HashCacheEntry {
                    size: meta.len(),
                    mtime_ns,
                    sha256: sha.clone(),
                },
            );
            changed = true;
            sha
        };
        out.push((name, sha));
    }
    if changed && let Ok(text) = serde_json::to_string_pretty(&cache) {
        // A read-only checkpoint (e.g. a shared cache) simply is not cached.
        let _ = std::fs::write(&cache_path, text);
    }
    Ok(out)
}

fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut f = std::fs::File::open(path).map_err(|e| ModelError::file(path, e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| ModelError::file(path, e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_a_model_id_in_the_hub_cache() {
        let tmp = std::env::temp_dir().join(format!("ecgr1-hfcache-{}", std::process::id()));
        let repo = tmp.join("hub").join("models--Org--Name");
        let snap = repo.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), "abc123\n").unwrap();
        let hub = hub_cache_dir(
            None,
            Some(tmp.clone().into_os_string()),
            Some("/root".into()),
        );
        assert_eq!(hub, Some(tmp.join("hub")));
        assert_eq!(resolve_with_hub("Org/Name", hub.clone()).unwrap(), snap);
        assert_eq!(
            resolve_with_hub("Org/Name@abc123", hub.clone()).unwrap(),
            snap
        );
        assert!(resolve_with_hub("Org/Name@other", hub.clone()).is_err());
        assert!(resolve_with_hub("Org/Missing", hub.clone()).is_err());
        assert!(resolve_with_hub("../x", hub.clone()).is_err());
        assert_eq!(
            hub_cache_dir(None, None, Some("/home/a".into())),
            Some(PathBuf::from("/home/a/.cache/huggingface/hub"))
        );
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn hashes_are_cached_by_size_and_mtime() {
        let tmp = std::env::temp_dir().join(format!("ecgr1-hash-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let f = tmp.join("w.bin");
        std::fs::write(&f, b"abc").unwrap();
        let h = file_hashes(&tmp, std::slice::from_ref(&f)).unwrap();
        assert_eq!(
            h[0].1,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(tmp.join(HASH_CACHE_FILE).is_file());
        let again = file_hashes(&tmp, std::slice::from_ref(&f)).unwrap();
        assert_eq!(h, again);
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
