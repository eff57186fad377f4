//! Reading a chat request into the one prompt shape the local engine renders: an optional
//! system message, one user turn (text, at most one image, at most one ECG signal) and, with
//! `continue_final_message`, the assistant's answer so far. Everything else is refused with a
//! message that says what `ecgr1 serve` reads.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ecgr1_engine::formats::EcgImage;
use ecgr1_engine::record::ModelSignal;

use crate::openai::wire::{ChatRequest, ContentPart, MessageContent};

/// The most tokens one request may ask for.
pub const MAX_TOKENS_LIMIT: usize = 8192;
/// What a request gets without `max_tokens` (ECG-R1's setting).
pub const DEFAULT_MAX_TOKENS: usize = 2048;

/// A request the worker can run.
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub system: Option<String>,
    pub text: String,
    pub image: Option<EcgImage>,
    pub signal: Option<ModelSignal>,
    /// The assistant's answer so far, continued without closing its turn.
    pub continuation: Option<String>,
    pub max_tokens: usize,
    pub temperature: f64,
    pub top_p: f64,
    pub seed: u64,
    /// `Some(k)`: each token's log-probability and its `k` most likely alternatives.
    pub top_logprobs: Option<usize>,
}

/// What the server knows when it reads a request.
#[derive(Clone, Debug)]
pub struct Limits {
    pub model_name: String,
    pub accepts_ecg: bool,
    pub family: String,
    pub max_logprobs: usize,
}

/// A request refused: the message goes back with HTTP 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct BadRequest(pub String);

fn bad(message: impl Into<String>) -> BadRequest {
    BadRequest(message.into())
}

fn plain_text(content: &MessageContent, role: &str) -> Result<String, BadRequest> {
    match content {
        MessageContent::Text(t) => Ok(t.clone()),
        MessageContent::Parts(parts) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => Ok(text.as_str()),
                _ => Err(bad(format!("the {role} message may hold text only"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|t| t.join("\n")),
    }
}

/// Decodes a `data:image/…;base64,` URL (remote URLs are not fetched).
fn decode_image(url: &str) -> Result<EcgImage, BadRequest> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(bad(
            "image_url: ecgr1 serve does not fetch image URLs; send the image as a data:image/png;base64,… URL",
        ));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(bad("image_url: a data URL needs a ',' before its data"));
    };
    if !meta.ends_with(";base64") {
        return Err(bad(
            "image_url: the data URL must be base64 (data:image/png;base64,…)",
        ));
    }
    let bytes = STANDARD
        .decode(data.trim().as_bytes())
        .map_err(|e| bad(format!("image_url: the data is not base64: {e}")))?;
    ecgr1_engine::formats::image::read(&bytes, "image_url")
        .map_err(|e| bad(format!("image_url: {e}")))
}

/// Checks a request against what the server serves and reads it into a [`JobSpec`].
pub fn read_request(req: &ChatRequest, limits: &Limits) -> Result<JobSpec, BadRequest> {
    if let Some(model) = &req.model
        && model != &limits.model_name
    {
        return Err(bad(format!(
            "this server serves the model '{}', not '{model}'",
            limits.model_name
        )));
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(bad("n: ecgr1 serve writes one answer per request (n = 1)"));
    }
    let mut messages = req.messages.as_slice();
    let mut system = None;
    if let Some(first) = messages.first()
        && (first.role == "system" || first.role == "developer")
    {
        system = Some(plain_text(&first.content, "system")?);
        messages = &messages[1..];
    }
    let continuation = match messages.last() {
        Some(last) if last.role == "assistant" => {
            if !req.continue_final_message {
                return Err(bad(
                    "the last message is the assistant's: set continue_final_message (and add_generation_prompt false) to continue it",
                ));
            }
            let text = plain_text(&last.content, "assistant")?;
            messages = &messages[..messages.len() - 1];
            Some(text)
        }
        _ if req.continue_final_message => {
            return Err(bad(
                "continue_final_message needs the assistant's answer so far as the last message",
            ));
        }
        _ => None,
    };
    let [user] = messages else {
        return Err(bad(format!(
            "ecgr1 serve reads one system message, one user message and (with continue_final_message) the assistant's answer so far; this request has {} messages with roles {}",
            req.messages.len(),
            req.messages
                .iter()
                .map(|m| m.role.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if user.role != "user" {
        return Err(bad(format!(
            "expected a user message, found role '{}'",
            user.role
        )));
    }
    let (mut texts, mut image, mut signal) = (Vec::new(), None, None);
    match &user.content {
        MessageContent::Text(t) => texts.push(t.clone()),
        MessageContent::Parts(parts) => {
            for part in parts {
                match part {
                    ContentPart::Text { text } => texts.push(text.clone()),
                    ContentPart::ImageUrl { image_url } => {
                        if image.is_some() {
                            return Err(bad("ecgr1 serve reads at most one image per request"));
                        }
                        image = Some(decode_image(&image_url.url)?);
                    }
                    ContentPart::Ecg { ecg } => {
                        if !limits.accepts_ecg {
                            return Err(bad(format!(
                                "the served model ({}) has no ECG tower, so it does not take the ecg content part; send an image of the ECG instead",
                                limits.family
                            )));
                        }
                        if signal.is_some() {
                            return Err(bad(
                                "ecgr1 serve reads at most one ECG signal per request",
                            ));
                        }
                        signal = Some(ecg.to_signal().map_err(|e| bad(e.to_string()))?);
                    }
                }
            }
        }
    }
    let max_tokens = req
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens == 0 || max_tokens > MAX_TOKENS_LIMIT {
        return Err(bad(format!(
            "max_tokens must be between 1 and {MAX_TOKENS_LIMIT}, not {max_tokens}"
        )));
    }
    let top_logprobs = match (req.logprobs, req.top_logprobs) {
        (_, Some(k)) if k > limits.max_logprobs => {
            return Err(bad(format!(
                "top_logprobs {k} is more than this server answers ({}; start ecgr1 serve with --max-logprobs N for more)",
                limits.max_logprobs
            )));
        }
        (true, k) => Some(k.unwrap_or(0)),
        (false, Some(k)) => Some(k),
        (false, None) => None,
    };
    let temperature = req.temperature.unwrap_or(0.0);
    let top_p = req.top_p.unwrap_or(1.0);
    if !(temperature.is_finite() && temperature >= 0.0 && top_p > 0.0 && top_p <= 1.0) {
        return Err(bad("temperature must be ≥ 0 and top_p in (0, 1]"));
    }
    Ok(JobSpec {
        system,
        text: texts.join("\n"),
        image,
        signal,
        continuation,
        max_tokens,
        temperature,
        top_p,
        seed: req.seed.unwrap_or(0),
        top_logprobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::wire::{ImageUrl, Message};

    fn limits() -> Limits {
        Limits {
            model_name: "tiny".into(),
            accepts_ecg: false,
            family: "qwen2-vl".into(),
            max_logprobs: 20,
        }
    }

    fn user(parts: Vec<ContentPart>) -> Message {
        Message {
            role: "user".into(),
            content: MessageContent::Parts(parts),
        }
    }

    fn request(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            messages,
            ..ChatRequest::default()
        }
    }

    #[test]
    fn reads_the_local_prompt_shape() {
        let mut req = request(vec![
            Message {
                role: "system".into(),
                content: MessageContent::Text("sys".into()),
            },
            user(vec![ContentPart::Text { text: "q".into() }]),
        ]);
        req.logprobs = true;
        req.top_logprobs = Some(5);
        let spec = read_request(&req, &limits()).unwrap();
        assert_eq!(spec.system.as_deref(), Some("sys"));
        assert_eq!(spec.text, "q");
        assert_eq!(spec.top_logprobs, Some(5));
        assert_eq!(spec.max_tokens, DEFAULT_MAX_TOKENS);
        assert!(spec.continuation.is_none());
    }

    #[test]
    fn refuses_what_it_cannot_serve_by_name() {
        let two_users = request(vec![
            user(vec![ContentPart::Text { text: "a".into() }]),
            user(vec![ContentPart::Text { text: "b".into() }]),
        ]);
        let e = read_request(&two_users, &limits()).unwrap_err().0;
        assert!(e.contains("one user message"), "{e}");
        let url = request(vec![user(vec![ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: "https://example.org/ecg.png".into(),
            },
        }])]);
        assert!(
            read_request(&url, &limits())
                .unwrap_err()
                .0
                .contains("does not fetch")
        );
        let not_png = request(vec![user(vec![ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: format!("data:image/png;base64,{}", STANDARD.encode(b"hello")),
            },
        }])]);
        assert!(
            read_request(&not_png, &limits())
                .unwrap_err()
                .0
                .contains("image_url")
        );
        let mut many = request(vec![user(vec![])]);
        many.top_logprobs = Some(50);
        let e = read_request(&many, &limits()).unwrap_err().0;
        assert!(e.contains("--max-logprobs"), "{e}");
        let mut wrong = request(vec![user(vec![])]);
        wrong.model = Some("gpt-4".into());
        assert!(
            read_request(&wrong, &limits())
                .unwrap_err()
                .0
                .contains("'tiny'")
        );
        let mut cont = request(vec![user(vec![])]);
        cont.continue_final_message = true;
        assert!(read_request(&cont, &limits()).is_err());
        cont.messages.push(Message {
            role: "assistant".into(),
            content: MessageContent::Text("<think>".into()),
        });
        assert_eq!(
            read_request(&cont, &limits())
                .unwrap()
                .continuation
                .as_deref(),
            Some("<think>")
        );
        let signal = ModelSignal {
            data_mv: vec![0.0; 12 * 5000],
            leads: 12,
            samples: 5000,
            notes: vec![],
        };
        let ecg = crate::openai::EcgPart::from_signal(&signal).unwrap();
        let with_ecg = request(vec![user(vec![ContentPart::Ecg { ecg }])]);
        let e = read_request(&with_ecg, &limits()).unwrap_err().0;
        assert!(e.contains("no ECG tower"), "{e}");
        let ok = read_request(
            &with_ecg,
            &Limits {
                accepts_ecg: true,
                ..limits()
            },
        )
        .unwrap();
        assert_eq!(ok.signal.unwrap().data_mv.len(), 60_000);
    }
}
