//! The remote engine against `ecgr1 serve` on the tiny random-weight checkpoints gives the
//! local engine's greedy text and P(yes) (within 1e-4) for image, signal and signal + image
//! prompts; with only the top 20 log-probabilities of a random model (whose yes/no tokens are
//! far down the list) it says P(yes) is not known instead of reporting 0 or 1. Loopback only.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use ecgr1_app::remote::{RemoteEngine, RemoteOptions};
use ecgr1_app::serve::{ServeOptions, ServerHandle, start};
use ecgr1_engine::formats::{EcgImage, EcgInput, LoadOptions, load_path};
use ecgr1_engine::model::generate::GenerationEvent;
use ecgr1_engine::model::{LocalModelEngine, LocalModelOptions, ModelDType};
use ecgr1_engine::record::EcgRecord;
use ecgr1_engine::report::{Engine, Report, Request, Task};

const NOTES: &str = "Male, 64 years. Chest pain for 2 hours.";
/// Larger than the tiny vocabularies (480), so every yes/no variant is listed.
const WHOLE_VOCABULARY: usize = 512;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/model")
}

fn image() -> EcgImage {
    match load_path(&fixtures().join("ecg_small.png"), &LoadOptions::default()).unwrap() {
        EcgInput::Image(i) => i,
        EcgInput::Signal(_) => panic!("an image"),
    }
}

fn signal() -> EcgRecord {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/samples/synthetic_sinus.hea");
    match load_path(&path, &LoadOptions::default()).unwrap() {
        EcgInput::Signal(s) => s.record,
        EcgInput::Image(_) => panic!("a signal"),
    }
}

fn serve(model: &str, max_logprobs: usize) -> ServerHandle {
    let mut options = ServeOptions::new(
        fixtures().join(model).display().to_string(),
        "127.0.0.1:0".parse().unwrap(),
    );
    options.dtype = Some(ModelDType::F32);
    options.prefer_gpu = false;
    options.max_logprobs = max_logprobs;
    start(&options).unwrap()
}

fn local(model: &str, max_tokens: usize) -> LocalModelEngine {
    let mut options = LocalModelOptions::new(fixtures().join(model).display().to_string());
    options.dtype = Some(ModelDType::F32);
    options.prefer_gpu = false;
    options.generation.max_new_tokens = max_tokens;
    LocalModelEngine::load(options).unwrap()
}

fn remote(server: &ServerHandle, top_logprobs: usize, max_tokens: usize) -> RemoteEngine {
    let mut options = RemoteOptions::new(server.url());
    options.top_logprobs = top_logprobs;
    options.max_tokens = max_tokens;
    RemoteEngine::connect(options).unwrap()
}

fn request<'a>(
    record: Option<&'a EcgRecord>,
    image: Option<&'a EcgImage>,
    task: Task,
) -> Request<'a> {
    Request {
        record,
        image,
        notes: NOTES,
        task,
    }
}

fn assert_same(local: &Report, remote: &Report, case: &str) {
    assert_eq!(remote.raw_output, local.raw_output, "{case}: greedy text");
    assert_eq!(remote.answer, local.answer, "{case}");
    match (local.p_yes(), remote.p_yes()) {
        (Some(l), Some(r)) => assert!((l - r).abs() < 1e-4, "{case}: P(yes) local {l} remote {r}"),
        other => panic!(
            "{case}: P(yes) {other:?}; remote issues {:?}",
            remote.parse_issues
        ),
    }
    assert_eq!(remote.band, local.band, "{case}");
}

#[test]
fn remote_against_ecgr1_serve_matches_the_local_engine_for_image_signal_and_both() {
    let max_tokens = 12;
    let server = serve("ecgr1-tiny", WHOLE_VOCABULARY);
    let mut local = local("ecgr1-tiny", max_tokens);
    let mut remote = remote(&server, WHOLE_VOCABULARY, max_tokens);
    let (img, rec) = (image(), signal());
    for (case, record, image) in [
        ("image", None, Some(&img)),
        ("signal", Some(&rec), None),
        ("signal + image", Some(&rec), Some(&img)),
    ] {
        let req = request(record, image, Task::Twi);
        let l = local.run(&req).unwrap();
        let r = remote.run(&req).unwrap();
        assert_same(&l, &r, case);
        assert_eq!(r.engine.name, "remote");
        assert_eq!(
            r.engine.weights_sha256, l.engine.weights_sha256,
            "{case}: the server reports the weights' hashes"
        );
        let checkpoint = r.engine.checkpoint.clone().unwrap();
        assert!(
            checkpoint.contains(&server.url()) && checkpoint.contains("ecgr1-tiny"),
            "{checkpoint}"
        );
        if record.is_some() {
            assert!(
                r.input_notes.iter().any(|n| n.contains("ECG tower")),
                "{case}: {:?}",
                r.input_notes
            );
        }
    }
    // The interpretation task: the same text, and no P(yes) from either.
    let req = request(Some(&rec), None, Task::Interpret);
    let l = local.run(&req).unwrap();
    let r = remote.run(&req).unwrap();
    assert_eq!(r.raw_output, l.raw_output);
    assert_eq!(r.p_yes(), None);
}

#[test]
fn remote_against_a_qwen2vl_server_matches_and_streams_into_the_trace() {
    let max_tokens = 12;
    let server = serve("qwen2vl-tiny", WHOLE_VOCABULARY);
    let mut local = local("qwen2vl-tiny", max_tokens);
    let mut remote = remote(&server, WHOLE_VOCABULARY, max_tokens);
    let (tx, rx) = mpsc::channel();
    remote.set_stream(Some(tx));
    let img = image();
    let req = request(None, Some(&img), Task::Twi);
    let l = local.run(&req).unwrap();
    let r = remote.run(&req).unwrap();
    assert_same(&l, &r, "qwen2-vl image");
    let streamed: String = rx
        .try_iter()
        .filter_map(|e| match e {
            GenerationEvent::Token { text, .. } => Some(text),
            GenerationEvent::Finished(_) => None,
        })
        .collect();
    assert_eq!(streamed, r.raw_output, "the live trace gets the whole text");
    // A signal alone cannot go to a server whose model has no ECG tower.
    let rec = signal();
    let e = remote
        .run(&request(Some(&rec), None, Task::Twi))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not take ECG signals") && e.contains(&server.url()),
        "{e}"
    );
    // With an image too, the image goes alone and the report says so.
    let r = remote
        .run(&request(Some(&rec), Some(&img), Task::Twi))
        .unwrap();
    assert!(
        r.input_notes
            .iter()
            .any(|n| n.contains("only the image was sent")),
        "{:?}",
        r.input_notes
    );
    assert_eq!(r.raw_output, l.raw_output);
}

#[test]
fn top_20_of_a_random_model_says_p_yes_is_unknown_never_zero_or_one() {
    let server = serve("qwen2vl-tiny", 20);
    let mut remote = remote(&server, 20, 8);
    let img = image();
    let r = remote.run(&request(None, Some(&img), Task::Twi)).unwrap();
    // The tiny model puts about 0.07 % on each yes/no token: far outside its top 20.
    assert_eq!(r.p_yes(), None);
    assert_eq!(r.band, None);
    assert!(
        r.parse_issues.iter().any(
            |i| i.contains("neither a \"yes\" nor a \"no\" token is among the server's top 20")
        ),
        "{:?}",
        r.parse_issues
    );
    // Asking for more than the server allows is refused by the server, with its reason.
    let mut greedy = remote_with(&server, 21);
    let e = greedy
        .run(&request(None, Some(&img), Task::Twi))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("HTTP 400") && e.contains("--max-logprobs"),
        "{e}"
    );
}

fn remote_with(server: &ServerHandle, top_logprobs: usize) -> RemoteEngine {
    remote(server, top_logprobs, 4)
}
