//! Every malformed file under `tests/fixtures/bad/<format>/` must yield its own specific
//! error. Each format folder has an `expected.json`: `{"file name": {"kind": "Truncated",
//! "field": "substring of the field"}}`. A file without an entry fails the test, so the
//! corpus and its expectations cannot drift apart.

use std::collections::BTreeMap;
use std::path::Path;

use ecgr1_engine::formats::{LoadOptions, load_path};

#[derive(Debug)]
struct Expected {
    kind: String,
    field: String,
}

fn load_expected(dir: &Path) -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(dir.join("expected.json"))
        .unwrap_or_else(|e| panic!("{}: expected.json: {e}", dir.display()));
    let value: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: expected.json: {e}", dir.display()));
    let obj = value
        .as_object()
        .unwrap_or_else(|| panic!("{}: expected.json must be an object", dir.display()));
    obj.iter()
        .map(|(name, v)| {
            let kind = v["kind"].as_str().unwrap_or_default().to_string();
            let field = v["field"].as_str().unwrap_or_default().to_string();
            (name.clone(), Expected { kind, field })
        })
        .collect()
}

#[test]
fn every_bad_fixture_yields_its_specific_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad");
    let mut checked = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let expected = load_expected(&dir);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n != "expected.json"))
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Companion data files of a WFDB record (named in expected.json as "skip") are not opened on their own.
            let Some(want) = expected.get(&name) else {
                panic!("{}: no entry for {name} in expected.json", dir.display());
            };
            if want.kind == "skip" {
                continue;
            }
            let err = match load_path(&file, &LoadOptions::default()) {
                Ok(_) => panic!(
                    "{}: was accepted, expected a {} error",
                    file.display(),
                    want.kind
                ),
                Err(e) => e,
            };
            assert_eq!(
                format!("{:?}", err.kind),
                want.kind,
                "{}: {err}",
                file.display()
            );
            assert!(
                err.field.contains(&want.field),
                "{}: field '{}' does not contain '{}' ({err})",
                file.display(),
                err.field,
                want.field
            );
            assert!(
                err.to_string().contains(&name),
                "{}: message does not name the file: {err}",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "no malformed fixtures found under {}",
        root.display()
    );
}
