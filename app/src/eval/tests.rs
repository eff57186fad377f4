use super::*;

/// A test double: answers from a probability written in the notes ("p=0.83"), counting calls.
struct NotesEngine {
    calls: usize,
    name: &'static str,
}

impl Engine for NotesEngine {
    fn identity(&self) -> EngineIdentity {
        EngineIdentity {
            name: self.name.into(),
            version: "test".into(),
            device: "cpu".into(),
            ..EngineIdentity::default()
        }
    }

    fn run(&mut self, request: &Request<'_>) -> Result<Report, ecgr1_engine::EngineError> {
        self.calls += 1;
        let p: f64 = request
            .notes
            .strip_prefix("p=")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ecgr1_engine::EngineError::Input("no p= in notes".into()))?;
        let score = ecgr1_engine::report::AnswerScore::from_masses(p, 1.0 - p);
        Ok(Report {
            engine: self.identity(),
            task: request.task,
            steps: Vec::new(),
            summary: String::new(),
            answer: vec![if p >= 0.5 { "yes".into() } else { "no".into() }],
            raw_output: String::new(),
            score,
            band: RiskBand::from_p_yes(p),
            parse_issues: Vec::new(),
            input_notes: Vec::new(),
            timings: ecgr1_engine::report::Timings::default(),
        })
    }
}

fn write_png(dir: &Path, k: u8) -> PathBuf {
    let path = dir.join(format!("case{k}.png"));
    image::RgbImage::from_pixel(2, 2, image::Rgb([k, 0, 0]))
        .save(&path)
        .unwrap();
    path
}

/// Six cases: P(yes) and reference labels chosen so the table is TP 2, FP 1, TN 2, FN 1.
fn manifest(dir: &Path) -> Vec<ManifestRow> {
    let cases = [
        (0.9, "yes"),
        (0.7, "yes"),
        (0.3, "yes"),
        (0.6, "no"),
        (0.2, "no"),
        (0.1, "no"),
    ];
    cases
        .iter()
        .enumerate()
        .map(|(k, (p, label))| ManifestRow {
            line: k + 2,
            file: None,
            image: Some(write_png(dir, k as u8)),
            notes: format!("p={p}"),
            labels: vec![(*label).to_string()],
        })
        .collect()
}

#[test]
fn metrics_cache_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let rows = manifest(dir.path());
    let config = EvalConfig {
        task: Task::Twi,
        out_dir: dir.path().join("out"),
        bootstrap_replicates: 200,
        seed: 1,
        load_options: LoadOptions::default(),
    };
    let mut engine = NotesEngine {
        calls: 0,
        name: "notes",
    };
    let mut progress = Vec::new();
    let outcomes = run_engine(&rows, &mut engine, &config, None, &mut progress).unwrap();
    assert_eq!(engine.calls, 6);
    let summary = summarise(engine.identity(), &outcomes, &config);
    let binary = summary.binary.unwrap();
    assert_eq!(
        binary.confusion,
        Confusion {
            tp: 2,
            fp: 1,
            tn: 2,
            fn_: 1
        }
    );
    assert_eq!(binary.accuracy.value, Some(4.0 / 6.0));
    // AUC by hand: positives 0.9, 0.7, 0.3 vs negatives 0.6, 0.2, 0.1 → 3 + 3 + 2 = 8 of 9 pairs.
    assert!((summary.auc.unwrap().auc - 8.0 / 9.0).abs() < 1e-12);
    // Bands: low (0.1), intermediate (0.7, 0.3, 0.6, 0.2), high (0.9).
    let bands = summary.bands.unwrap();
    assert_eq!(
        bands
            .iter()
            .map(|b| b.observed_positive.total)
            .collect::<Vec<_>>(),
        vec![1, 4, 1]
    );

    // A second run reads every row from the cache and calls the engine no more.
    let mut again = NotesEngine {
        calls: 0,
        name: "notes",
    };
    let cached = run_engine(&rows, &mut again, &config, None, &mut progress).unwrap();
    assert_eq!(again.calls, 0);
    assert_eq!(cached, outcomes);
    assert!(String::from_utf8_lossy(&progress).contains("6 from cache"));

    // Files: rows CSV and plots decode as PNG.
    write_rows_csv(&config.out_dir.join("rows.csv"), &outcomes).unwrap();
    let csv = std::fs::read_to_string(config.out_dir.join("rows.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7);
    let roc = metrics::roc_curve(
        &outcomes
            .iter()
            .map(|o| o.p_yes.unwrap())
            .collect::<Vec<_>>(),
        &outcomes
            .iter()
            .map(|o| o.reference[0] == "yes")
            .collect::<Vec<_>>(),
    );
    plots::write_roc(
        &config.out_dir.join("roc.png"),
        &[("notes".into(), roc, 8.0 / 9.0)],
    )
    .unwrap();
    plots::write_reliability(
        &config.out_dir.join("reliability.png"),
        "notes",
        &summary.calibration.unwrap(),
    )
    .unwrap();
    for f in ["roc.png", "reliability.png"] {
        let img = image::open(config.out_dir.join(f)).unwrap();
        assert_eq!((img.width(), img.height()), (640, 640));
    }
}

#[test]
fn failures_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = manifest(dir.path());
    rows[1].notes = "no probability".into();
    rows[2].image = Some(dir.path().join("missing.png"));
    let config = EvalConfig {
        task: Task::Twi,
        out_dir: dir.path().join("out"),
        bootstrap_replicates: 10,
        seed: 1,
        load_options: LoadOptions::default(),
    };
    let mut engine = NotesEngine {
        calls: 0,
        name: "notes",
    };
    let outcomes = run_engine(&rows, &mut engine, &config, None, &mut Vec::new()).unwrap();
    let summary = summarise(engine.identity(), &outcomes, &config);
    assert_eq!(summary.failures, 2);
    assert!(
        outcomes[2]
            .error
            .as_deref()
            .unwrap()
            .contains("missing.png")
    );
    assert_eq!(summary.binary.unwrap().confusion.total(), 4);
}

#[test]
fn paired_comparison_of_two_engines() {
    let dir = tempfile::tempdir().unwrap();
    let rows = manifest(dir.path());
    let config = EvalConfig {
        task: Task::Twi,
        out_dir: dir.path().join("out"),
        bootstrap_replicates: 10,
        seed: 1,
        load_options: LoadOptions::default(),
    };
    let a = run_engine(
        &rows,
        &mut NotesEngine {
            calls: 0,
            name: "a",
        },
        &config,
        None,
        &mut Vec::new(),
    )
    .unwrap();
    let b = run_engine(
        &rows,
        &mut NotesEngine {
            calls: 0,
            name: "b",
        },
        &config,
        None,
        &mut Vec::new(),
    )
    .unwrap();
    let c = compare("a", &a, "b", &b);
    assert_eq!(c.paired_rows, 6);
    let m = c.mcnemar.unwrap();
    assert_eq!((m.a_only, m.b_only, m.p_exact), (0, 0, 1.0));
    assert_eq!(c.delong.unwrap().p_value, 1.0);
}
